import { Router } from 'express';
import { deleteImageWithKey, findImageForDeletion, type ImagesDeps } from '../../services/images.service.js';
import { wantsJson } from '../errors.js';
import { clientInfo } from '../request-info.js';
import { imageUrls } from '../../lib/urls.js';

export function deleteRoutes(deps: ImagesDeps & { publicUrl: string }): Router {
  const router = Router();
  const noLeak = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' };

  // GET only asks; link previews and prefetchers must never delete anything.
  router.get('/delete/:id/:key', async (req, res) => {
    const image = await findImageForDeletion(deps, req.params.id, req.params.key);
    res.set(noLeak).render('delete-confirm', { title: 'Delete image', image, ...imageUrls(deps.publicUrl, image) });
  });

  router.post('/delete/:id/:key', async (req, res) => {
    await deleteImageWithKey(deps, { id: req.params.id, key: req.params.key, ...clientInfo(req) });
    res.set(noLeak);
    if (wantsJson(req)) {
      res.json({ deleted: true });
      return;
    }
    res.render('deleted', { title: 'Image deleted' });
  });

  return router;
}
