import type { Request, Response } from 'express';
import type { Config } from '../../config/config.js';
import type { Visibility } from '../../db/images.repo.js';
import { assertValidKey, type StorageDriver } from '../../storage/storage.js';
import { createDelivery } from '../delivery.js';
import { serveStoredFile, type HeldBytes, type Offload, type StoredFile } from '../serve-stored-file.js';

export type SendOptions = {
  /** Small variants' bytes in memory (the fast path's cache). */
  held?: HeldBytes;
  /** Sets the response's general headers once the kind of answer is known (the fast path runs before the page middleware). */
  headers?: (kind: 'redirect' | 'bytes') => void;
};

type SenderConfig = Pick<Config, 's3' | 'storageDriver' | 'proxyOffload'>;

/**
 * PROXY_OFFLOAD with local storage: what names a stored file to the proxy. nginx gets an internal URI under the
 * prefix (its location aliases the storage folder); X-Sendfile gets the file's absolute path, still refused when
 * a key would escape the storage root.
 */
export function offloadOf(config: SenderConfig, storage: StorageDriver): Offload | undefined {
  const offload = config.proxyOffload;
  const localPath = storage.localPath?.bind(storage);
  if (!offload || !localPath) return undefined;
  if (offload.mode === 'x-accel-redirect') {
    return {
      header: 'X-Accel-Redirect',
      target: (key) => {
        assertValidKey(key);
        return offload.prefix + key.split('/').map(encodeURIComponent).join('/');
      },
    };
  }
  return { header: 'X-Sendfile', target: localPath };
}

/**
 * Sends a variant the caller may see: streamed (or from memory) through the app, or a redirect to the bucket when
 * the serve mode says so, or handed to the proxy in front (PROXY_OFFLOAD). Called only after the access check; the
 * fast path and the full-stack routes share it.
 */
export function variantSender(config: SenderConfig, storage: StorageDriver) {
  const delivery = createDelivery(config, storage);
  const offload = offloadOf(config, storage);
  return async (req: Request, res: Response, visibility: Visibility, file: StoredFile, options: SendOptions = {}): Promise<void> => {
    const redirect = await delivery({ key: file.key, mime: file.mime, filename: file.filename, visibility });
    if (redirect) {
      options.headers?.('redirect');
      res.set({ 'Cache-Control': redirect.cacheControl, 'Referrer-Policy': 'no-referrer' }).redirect(302, redirect.url);
      return;
    }
    options.headers?.('bytes');
    // Offloaded, the proxy reads the file itself: bytes held in memory would only be a second copy.
    await serveStoredFile(req, res, storage, file, offload ? { offload } : { held: options.held });
  };
}
