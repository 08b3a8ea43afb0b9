import type { ImageRecord } from '../../db/images.repo.js';
import { imageKeys } from '../../storage/keys.js';
import type { StoredFile } from '../serve-stored-file.js';

/**
 * The fields serving reads: the serving cache keeps only these (a smaller entry than the whole row). A new variant
 * adds its own (its size and hash columns) here.
 */
export const SERVED_FIELDS = [
  'id',
  'ext',
  'mime',
  'size',
  'sha256',
  'thumbSize',
  'thumbSha256',
  'displaySize',
  'displaySha256',
  'createdAt',
  'originalName',
  'ownerId',
  'visibility',
  'missingSince',
  'moderationState',
] as const satisfies ReadonlyArray<keyof ImageRecord>;

export type ServedImage = Pick<ImageRecord, (typeof SERVED_FIELDS)[number]>;

/** One stored rendition of an image and the URL it is served at; the fast path and the full-stack routes both read this table. */
export type Variant = {
  /** Express path with :id and :ext. */
  path: string;
  /** Whether the URL's extension names this variant of the image (anything else is the same 404 as a missing image). */
  accepts(image: ServedImage, ext: string): boolean;
  file(image: ServedImage): StoredFile;
};

const baseName = (name: string, fallback: string) => name.replace(/\.[^.]*$/, '') || fallback;

/** Image bytes never change under a URL (a new upload is a new id), so public and unlisted copies are cached for a year. */
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

/** How long caches may keep a served variant: private images are revalidated by the owner's browser only. */
export const cacheControlFor = (image: Pick<ImageRecord, 'visibility'>): string => (image.visibility === 'private' ? 'private, no-cache' : IMMUTABLE_CACHE);

export const VARIANTS = {
  original: {
    path: '/i/:id.:ext',
    accepts: (image, ext) => ext === image.ext,
    file: (image) => ({
      key: imageKeys(image).original,
      mime: image.mime,
      size: image.size,
      sha256: image.sha256,
      lastModified: image.createdAt,
      filename: `${baseName(image.originalName, image.id)}.${image.ext}`,
      cacheControl: cacheControlFor(image),
    }),
  },
  thumbnail: {
    path: '/t/:id.:ext',
    accepts: (_image, ext) => ext === 'webp',
    file: (image) => ({
      key: imageKeys(image).thumbnail,
      mime: 'image/webp',
      size: image.thumbSize,
      sha256: image.thumbSha256,
      lastModified: image.createdAt,
      filename: `${baseName(image.originalName, image.id)}-thumb.webp`,
      cacheControl: cacheControlFor(image),
    }),
  },
  /**
   * A WebP at most DISPLAY_MAX_PX on its longest side. An image from before display variants has none until the
   * backfill makes it, and answers 404 until then.
   */
  display: {
    path: '/d/:id.:ext',
    accepts: (image, ext) => ext === 'webp' && image.displaySize !== null,
    file: (image) => ({
      key: imageKeys(image).display,
      mime: 'image/webp',
      size: image.displaySize ?? 0,
      sha256: image.displaySha256 ?? '',
      lastModified: image.createdAt,
      filename: `${baseName(image.originalName, image.id)}-display.webp`,
      cacheControl: cacheControlFor(image),
    }),
  },
} as const satisfies Record<string, Variant>;

/** The serving cache's copy of a row: only SERVED_FIELDS, always in the same order (one object shape). */
export function servedImageOf(image: ImageRecord): ServedImage {
  const served = {} as Record<string, unknown>;
  for (const field of SERVED_FIELDS) served[field] = image[field];
  return served as ServedImage;
}
