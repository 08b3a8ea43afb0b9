import { Router } from 'express';
import type { ImagesRepo } from '../../db/images.repo.js';
import { imageUrls, secretUrls } from '../../lib/urls.js';
import { findImageForDeletion } from '../../services/images.service.js';

export function pagesRoutes(deps: { images: ImagesRepo; publicUrl: string }): Router {
  const router = Router();

  router.get('/', (_req, res) => {
    res.render('home', { title: 'Upload an image' });
  });

  // The result page carries the delete key in its URL, so it must not be cached, indexed or leaked as a referrer.
  router.get('/upload/:id/:key', async (req, res) => {
    const image = await findImageForDeletion(deps, req.params.id, req.params.key);
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' });
    res.render('result', {
      title: 'Uploaded',
      image,
      ...imageUrls(deps.publicUrl, image),
      deleteUrl: secretUrls(deps.publicUrl, image.id, req.params.key).deleteUrl,
    });
  });

  return router;
}
