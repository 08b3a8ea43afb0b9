import { Router, type RequestHandler } from 'express';
import type { RateLimits } from '../../services/rate-limits.service.js';
import { deleteImageWithKey, findImageForDeletion, type ImagesDeps } from '../../services/images.service.js';
import { wantsJson } from '../errors.js';
import { clientInfo } from '../request-info.js';
import { imageUrls } from '../../lib/urls.js';

export function deleteRoutes(deps: ImagesDeps & { publicUrl: string; limits: RateLimits }): Router {
  const router = Router();
  // Both the confirm page and the delete test a key; bound how many keys one address may try.
  const limited: RequestHandler = async (req, _res, next) => {
    await deps.limits.consume('deletePerIp', req.ip ?? 'unknown');
    next();
  };
  const noLeak = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' };

  // GET only asks; link previews and prefetchers must never delete anything.
  router.get('/delete/:id/:key', limited, async (req, res) => {
    const image = await findImageForDeletion(deps, String(req.params.id), String(req.params.key));
    res.set(noLeak).render('delete-confirm', { title: 'Delete image', image, ...imageUrls(deps.publicUrl, image) });
  });

  router.post('/delete/:id/:key', limited, async (req, res) => {
    await deleteImageWithKey(deps, { id: String(req.params.id), key: String(req.params.key), ...clientInfo(req) });
    res.set(noLeak);
    if (wantsJson(req)) {
      res.json({ deleted: true });
      return;
    }
    res.render('deleted', { title: 'Image deleted' });
  });

  return router;
}
