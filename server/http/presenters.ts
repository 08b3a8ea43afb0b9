import type { ImageRecord } from '../db/images.repo.js';
import { imageUrls } from '../lib/urls.js';
import type { ListOptions } from '../services/account-images.service.js';

/** What the list, the JSON API and the profile show of an image; never its delete key hash. */
export function imageSummary(publicUrl: string, image: ImageRecord) {
  return {
    id: image.id,
    label: image.title || image.originalName || image.id,
    title: image.title,
    originalName: image.originalName,
    visibility: image.visibility,
    createdAt: image.createdAt.toISOString(),
    size: image.size,
    width: image.width,
    height: image.height,
    thumbWidth: image.thumbWidth,
    thumbHeight: image.thumbHeight,
    mime: image.mime,
    ...imageUrls(publicUrl, image),
  };
}

/** A link to another page of the same listing. */
export function pageHref(base: string, options: Pick<ListOptions, 'sort' | 'search'>, after?: string): string {
  const params = new URLSearchParams();
  if (options.search) params.set('q', options.search);
  if (options.sort !== 'newest') params.set('sort', options.sort);
  if (after) params.set('after', after);
  const query = params.toString();
  return query ? `${base}?${query}` : base;
}

/** How many pages a list of total items fills, at least one. */
export const pageCount = (total: number, size: number) => Math.max(1, Math.ceil(total / size));
