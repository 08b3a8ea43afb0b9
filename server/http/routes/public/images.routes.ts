import { callerOf } from '../../auth-context.js';
import { Router } from 'express';
import { imageUrls } from '../../../lib/urls.js';
import { cacheControlFor, findImage } from '../../../services/images.service.js';
import { imageKeys } from '../../../storage/keys.js';
import type { ImageRecord } from '../../../db/images.repo.js';
import { createDelivery } from '../../delivery.js';
import type { RouteDeps } from '../../route-deps.js';
import { NotFound } from '../../../errors.js';
import { serveStoredFile, type StoredFile } from '../../serve-stored-file.js';

const baseName = (name: string, fallback: string) => name.replace(/\.[^.]*$/, '') || fallback;

/** Share page, image and thumbnail; a private image answers 404 to everyone but its owner on each of them. */
export function imagesRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'storage'>): Router {
  const router = Router();
  const delivery = createDelivery(deps.config, deps.storage);

  /** Streams the variant, or redirects to the bucket when the serve mode says so (decided after the access check). */
  const send = async (req: Parameters<typeof serveStoredFile>[0], res: Parameters<typeof serveStoredFile>[1], image: ImageRecord, file: StoredFile) => {
    const redirect = await delivery({ key: file.key, mime: file.mime, filename: file.filename, visibility: image.visibility });
    if (redirect) {
      res.set({ 'Cache-Control': redirect.cacheControl, 'Referrer-Policy': 'no-referrer' }).redirect(302, redirect.url);
      return;
    }
    await serveStoredFile(req, res, deps.storage, file);
  };

  router.get('/i/:id.:ext', async (req, res) => {
    const image = await findImage(deps.repos, req.params.id, callerOf(req));
    if (req.params.ext !== image.ext) throw new NotFound();
    await send(req, res, image, {
      key: imageKeys(image).original,
      mime: image.mime,
      size: image.size,
      sha256: image.sha256,
      lastModified: image.createdAt,
      filename: `${baseName(image.originalName, image.id)}.${image.ext}`,
      cacheControl: cacheControlFor(image),
    });
  });

  router.get('/t/:id.:ext', async (req, res) => {
    const image = await findImage(deps.repos, req.params.id, callerOf(req));
    if (req.params.ext !== 'webp') throw new NotFound();
    await send(req, res, image, {
      key: imageKeys(image).thumbnail,
      mime: 'image/webp',
      size: image.thumbSize,
      sha256: image.thumbSha256,
      lastModified: image.createdAt,
      filename: `${baseName(image.originalName, image.id)}-thumb.webp`,
      cacheControl: cacheControlFor(image),
    });
  });

  router.get('/i/:id', async (req, res) => {
    const image = await findImage(deps.repos, req.params.id, callerOf(req));
    res.set('X-Robots-Tag', 'noindex');
    const cacheControl = cacheControlFor(image);
    if (cacheControl) res.set('Cache-Control', cacheControl);
    res.render('public/share', { title: image.title || image.originalName || `Image ${image.id}`, image, ...imageUrls(deps.config.publicUrl, image) });
  });

  return router;
}
