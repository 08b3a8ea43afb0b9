import contentDisposition from 'content-disposition';
import type { Config } from '../config/config.js';
import type { Visibility } from '../db/images.repo.js';
import { S3Storage } from '../storage/s3.storage.js';
import type { StorageDriver } from '../storage/storage.js';

export type Redirect = { url: string; cacheControl: string };

/** Seconds a cache may keep a redirect to the public URL: short, so a deletion or a switch to private takes effect soon. */
const PUBLIC_REDIRECT_MAX_AGE = 300;

/** How image bytes reach a viewer who may see them: through the app (null), or by a redirect to the bucket. */
export type Delivery = (file: { key: string; mime: string; filename: string; visibility: Visibility }) => Promise<Redirect | null>;

/** The origin browsers are redirected to for image bytes, if any (for the pages' CSP). */
export function deliveryOrigin(config: Pick<Config, 's3' | 'storageDriver'>): string | undefined {
  const s3 = config.s3;
  if (config.storageDriver !== 's3' || !s3 || s3.serveMode === 'proxy') return undefined;
  if (s3.serveMode === 'public') return new URL(s3.publicUrl!).origin;
  if (!s3.endpoint) return `https://${s3.bucket}.s3.${s3.region}.amazonaws.com`;
  const endpoint = new URL(s3.endpoint);
  return s3.forcePathStyle ? endpoint.origin : `${endpoint.protocol}//${s3.bucket}.${endpoint.host}`;
}

/** Streams everything through the app: the default, and the only mode for local storage. */
export const proxyDelivery: Delivery = () => Promise.resolve(null);

/**
 * S3_SERVE_MODE for operators with a CDN in front of the bucket:
 * - presigned: a redirect to a URL signed for S3_PRESIGN_SECONDS. Caches may keep the redirect for half that, and
 *   not at all for a private image, so nobody is sent to an expired or someone else's URL.
 * - public: public and unlisted images redirect to S3_PUBLIC_URL; private images are still streamed by the app, so
 *   they never get a public URL. Deleted images have no row, so no route hands out any URL for them, and the
 *   recovery prefix is never linked.
 */
export function createDelivery(config: Pick<Config, 's3' | 'storageDriver'>, storage: StorageDriver): Delivery {
  const s3 = config.s3;
  if (config.storageDriver !== 's3' || !s3 || s3.serveMode === 'proxy' || !(storage instanceof S3Storage)) return proxyDelivery;
  if (s3.serveMode === 'presigned') {
    return async (file) => ({
      url: await storage.presignedUrl(file.key, s3.presignSeconds, {
        contentType: file.mime,
        contentDisposition: contentDisposition(file.filename, { type: 'inline' }),
      }),
      cacheControl: file.visibility === 'private' ? 'private, no-store' : `public, max-age=${Math.floor(s3.presignSeconds / 2)}`,
    });
  }
  const base = s3.publicUrl!;
  return (file) =>
    Promise.resolve(
      file.visibility === 'private' ? null : { url: `${base}/${storage.objectKey(file.key)}`, cacheControl: `public, max-age=${PUBLIC_REDIRECT_MAX_AGE}` },
    );
}
