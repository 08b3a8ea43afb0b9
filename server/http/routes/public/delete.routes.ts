import { Router, type RequestHandler } from 'express';
import { deleteImageWithKey, findImageForDeletion } from '../../../services/images.service.js';
import type { RouteDeps } from '../../route-deps.js';
import { NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { isDeleteKey, isImageId } from '../../../lib/ids.js';
import { secretMatchesHash } from '../../../lib/hash.js';
import { removalStatement } from '../../../services/moderation.service.js';
import { clientInfo } from '../../request-info.js';
import { imageUrls } from '../../../lib/urls.js';

export function deleteRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'limits' | 'logger' | 'repos' | 'storage'>): Router {
  const router = Router();
  // Both the confirm page and the delete test a key; bound how many keys one address may try.
  const limited: RequestHandler = async (req, _res, next) => {
    await deps.limits.consume('deletePerIp', req.ip ?? 'unknown');
    next();
  };
  const noLeak = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' };

  // GET only asks; link previews and prefetchers must never delete anything.
  router.get('/delete/:id/:key', limited, async (req, res) => {
    const id = String(req.params.id);
    const key = String(req.params.key);
    let image;
    try {
      image = await findImageForDeletion(deps, id, key);
    } catch (err) {
      // The guest's statement of reasons: an image moderators removed says so to whoever holds its delete link.
      const removed = err instanceof NotFound && isImageId(id) && isDeleteKey(key) ? await removalStatement(deps.repos, id) : null;
      if (!removed || !secretMatchesHash(key, removed.deleteKeyHash)) throw err;
      res.set(noLeak).render('notice', { title: 'Removed by the moderators', message: `The moderators of this site removed this image on ${removed.at.toISOString().slice(0, 10)}. Reason: ${removed.statement}` });
      return;
    }
    res.set(noLeak).render('public/delete-confirm', { title: 'Delete image', image, ...imageUrls(deps.config.publicUrl, image) });
  });

  router.post('/delete/:id/:key', limited, async (req, res) => {
    await deleteImageWithKey(deps, { id: String(req.params.id), key: String(req.params.key), ...clientInfo(req) });
    res.set(noLeak);
    if (wantsJson(req)) {
      res.json({ deleted: true });
      return;
    }
    res.render('public/deleted', { title: 'Image deleted' });
  });

  return router;
}
