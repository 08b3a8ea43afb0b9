/** Every absolute URL a client sees is built here, from PUBLIC_URL. */
export function imageUrls(publicUrl: string, image: { id: string; ext: string }) {
  return {
    pageUrl: `${publicUrl}/i/${image.id}`,
    url: `${publicUrl}/i/${image.id}.${image.ext}`,
    thumbnailUrl: `${publicUrl}/t/${image.id}.webp`,
  };
}

export function secretUrls(publicUrl: string, id: string, deleteKey: string) {
  return {
    deleteUrl: `${publicUrl}/delete/${id}/${deleteKey}`,
    resultUrl: `${publicUrl}/upload/${id}/${deleteKey}`,
  };
}
