/** The storage keys of an image's variants. Sharded by the id's first two characters to keep folders small. */
export function imageKeys(image: { id: string; ext: string }): { original: string; thumbnail: string } {
  const shard = image.id.slice(0, 2);
  return {
    original: `images/${shard}/${image.id}.${image.ext}`,
    thumbnail: `thumbs/${shard}/${image.id}.webp`,
  };
}

export const allImageKeys = (image: { id: string; ext: string }): string[] => Object.values(imageKeys(image));
