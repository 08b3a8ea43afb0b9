/** Every absolute URL a client sees is built here, from PUBLIC_URL. */
export function imageUrls(publicUrl: string, image: { id: string; ext: string }) {
  return {
    pageUrl: `${publicUrl}/i/${image.id}`,
    url: `${publicUrl}/i/${image.id}.${image.ext}`,
    thumbnailUrl: `${publicUrl}/t/${image.id}.webp`,
  };
}

/** The display variant (a WebP at most DISPLAY_MAX_PX on its longest side); null for an image that has none yet. */
export function displayUrl(publicUrl: string, image: { id: string; displaySize?: number | null }): string | null {
  return image.displaySize == null ? null : `${publicUrl}/d/${image.id}.webp`;
}

export function secretUrls(publicUrl: string, id: string, deleteKey: string) {
  return { deleteUrl: `${publicUrl}/delete/${id}/${deleteKey}` };
}

/** The page shown straight after an upload; the delete key reaches it in a one-time cookie, never in this URL. */
export function resultUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/upload/${id}`;
}

/**
 * A user-supplied link Pixbin will contact (a webhook endpoint, an image to fetch): absolute, http or https, with a
 * host and without a user:password part. Returns the URL, or what is wrong with it for the caller's own message.
 */
export function userHttpUrl(text: string): URL | 'malformed' | 'userinfo' {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'malformed';
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return 'malformed';
  if (url.username !== '' || url.password !== '') return 'userinfo';
  return url;
}
