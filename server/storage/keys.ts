/** The storage keys of an image's variants. Sharded by the id's first two characters to keep folders small. */
export function imageKeys(image: { id: string; ext: string }): { original: string; thumbnail: string; display: string } {
  const shard = image.id.slice(0, 2);
  return {
    original: `images/${shard}/${image.id}.${image.ext}`,
    thumbnail: `thumbs/${shard}/${image.id}.webp`,
    display: `display/${shard}/${image.id}.webp`,
  };
}

/**
 * The keys of every variant the image has. An image from before display variants has none until the backfill
 * makes it (displaySize null, or absent in a recovery record written before then): its key is left out, so
 * moving, restoring and reaping never look for an object that was never made.
 */
export function allImageKeys(image: { id: string; ext: string; displaySize?: number | null }): string[] {
  const keys = imageKeys(image);
  return image.displaySize == null ? [keys.original, keys.thumbnail] : [keys.original, keys.thumbnail, keys.display];
}
