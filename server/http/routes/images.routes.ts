import { Router } from 'express';
import type { ImagesRepo } from '../../db/images.repo.js';
import { imageUrls } from '../../lib/urls.js';
import { cacheControlFor, findImage } from '../../services/images.service.js';
import { imageKeys } from '../../storage/keys.js';
import type { StorageDriver } from '../../storage/storage.js';
import { NotFound } from '../errors.js';
import { serveStoredFile } from '../serve-stored-file.js';

type Deps = { images: ImagesRepo; storage: StorageDriver; publicUrl: string };

const baseName = (name: string, fallback: string) => name.replace(/\.[^.]*$/, '') || fallback;

/** Share page, image and thumbnail; a private image answers 404 to everyone but its owner on each of them. */
export function imagesRoutes(deps: Deps): Router {
  const router = Router();

  router.get('/i/:id.:ext', async (req, res) => {
    const image = await findImage(deps, req.params.id, req.auth?.user.id);
    if (req.params.ext !== image.ext) throw new NotFound();
    await serveStoredFile(req, res, deps.storage, {
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
    const image = await findImage(deps, req.params.id, req.auth?.user.id);
    if (req.params.ext !== 'webp') throw new NotFound();
    await serveStoredFile(req, res, deps.storage, {
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
    const image = await findImage(deps, req.params.id, req.auth?.user.id);
    res.set('X-Robots-Tag', 'noindex');
    const cacheControl = cacheControlFor(image);
    if (cacheControl) res.set('Cache-Control', cacheControl);
    res.render('share', { title: image.title || image.originalName || `Image ${image.id}`, image, ...imageUrls(deps.publicUrl, image) });
  });

  return router;
}
