import type { z } from 'zod';
import type { AlbumRecord } from '../../db/albums.repo.js';
import type { ImageRecord, Visibility } from '../../db/images.repo.js';
import { imageUrls } from '../../lib/urls.js';
import type { AlbumImageSchema, AlbumSchema, ImageSchema } from './schemas.js';

/** Records as the API shows them: snake_case, absolute URLs from PUBLIC_URL, ISO 8601 UTC times. */
type ImageBasics = { id: string; ext: string; width: number; height: number; mime: string; visibility: Visibility; createdAt: Date };

/** What every image answer has (an album's page of images shows only this). */
export function apiAlbumImage(publicUrl: string, image: ImageBasics): z.output<typeof AlbumImageSchema> {
  const urls = imageUrls(publicUrl, image);
  return {
    id: image.id,
    page_url: urls.pageUrl,
    url: urls.url,
    thumbnail_url: urls.thumbnailUrl,
    width: image.width,
    height: image.height,
    mime: image.mime,
    visibility: image.visibility,
    created_at: image.createdAt.toISOString(),
  };
}

/** The whole image; deleteUrl only in the answer to its upload (the key behind it is never stored in clear). */
export function apiImage(publicUrl: string, image: ImageRecord, deleteUrl: string | null = null): z.output<typeof ImageSchema> {
  return {
    ...apiAlbumImage(publicUrl, image),
    delete_url: deleteUrl,
    size: image.size,
    title: image.title,
    expires_at: image.expiresAt?.toISOString() ?? null,
    source_url: image.sourceUrl ?? null,
  };
}

export function apiAlbum(publicUrl: string, album: AlbumRecord, imageCount: number): z.output<typeof AlbumSchema> {
  return {
    id: album.id,
    title: album.title,
    url: `${publicUrl}/a/${album.id}`,
    image_count: imageCount,
    cover_image_id: album.coverImageId,
    created_at: album.createdAt.toISOString(),
  };
}
