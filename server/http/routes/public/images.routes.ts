import { callerOf } from '../../auth-context.js';
import { Router } from 'express';
import type { ImageRecord } from '../../../db/images.repo.js';
import { displayUrl, imageUrls } from '../../../lib/urls.js';
import { findImage } from '../../../services/images.service.js';
import { NotFound } from '../../../errors.js';
import type { ServedVariant } from '../../../metrics/types.js';
import type { RouteDeps } from '../../route-deps.js';
import { servingFailureOf } from '../../serving/fast-images.js';
import { variantSender } from '../../serving/send-variant.js';
import { cacheControlFor, VARIANTS } from '../../serving/variants.js';

/**
 * What the share page shows and link previews load: the display variant when it is a real reduction of the
 * original, else the original. A picture already within DISPLAY_MAX_PX is shown as uploaded (a lossless
 * screenshot stays crisp), and an animation keeps moving (its display variant is the first frame).
 */
function shownVariant(publicUrl: string, image: ImageRecord): { url: string; width: number; height: number; mime: string } | null {
  const url = displayUrl(publicUrl, image);
  if (!url || image.frames > 1 || image.displayWidth === null || image.displayHeight === null) return null;
  if (Math.max(image.width, image.height) <= Math.max(image.displayWidth, image.displayHeight)) return null;
  return { url, width: image.displayWidth, height: image.displayHeight, mime: 'image/webp' };
}

/**
 * Share page, image and its variants; a private image answers 404 to everyone but its owner on each of them. The
 * variants are answered first by the fast path (http/serving/fast-images.ts); here they are the full-stack answer
 * to every case it hands on: not found, not the caller's, hidden, missing bytes, failures.
 */
export function imagesRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'storage' | 'metrics'>): Router {
  const router = Router();
  const send = variantSender(deps.config, deps.storage);

  for (const [name, variant] of Object.entries(VARIANTS)) {
    router.get(variant.path, async (req, res) => {
      const failure = servingFailureOf(req);
      if (failure) throw failure;
      const image = await findImage(deps.repos, req.params.id as string, callerOf(req));
      if (!variant.accepts(image, req.params.ext as string)) throw new NotFound();
      await send(req, res, image.visibility, variant.file(image));
      // Counted as the fast path counts it: bytes of a GET answered 200 or 206 (a redirect or a 304 sends none).
      if (req.method === 'GET' && (res.statusCode === 200 || res.statusCode === 206)) deps.metrics.bytesServed(name as ServedVariant, Number(res.getHeader('Content-Length') ?? 0));
    });
  }

  router.get('/i/:id', async (req, res) => {
    const image = await findImage(deps.repos, req.params.id, callerOf(req));
    res.set('X-Robots-Tag', 'noindex');
    if (image.visibility === 'private') res.set('Cache-Control', cacheControlFor(image));
    const urls = imageUrls(deps.config.publicUrl, image);
    res.render('public/share', { title: image.title || image.originalName || `Image ${image.id}`, image, ...urls, display: shownVariant(deps.config.publicUrl, image) });
  });

  return router;
}
