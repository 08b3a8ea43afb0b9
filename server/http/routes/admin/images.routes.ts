import { Router } from 'express';
import { REPORT_REASONS } from '../../../services/reports.service.js';
import { browseImages, IMAGE_STATES, imageHistory, imageSearchOf, removedThumbnail } from '../../../services/staff-images.service.js';
import { humanBytes } from '../../../lib/format.js';
import { NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { authOf } from '../../middleware/require-user.middleware.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import { serveStoredFile } from '../../serve-stored-file.js';
import type { RouteDeps } from '../../route-deps.js';
import { when } from '../../staff-helpers.js';

/**
 * The staff image browser and each image's moderation history (moderators and admins): staff can find and act on
 * any image, reported or not, and undo a decision. The decisions themselves post to /admin/images/:id/moderate.
 */
export function adminImagesRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'staffImages' | 'storage'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const images = deps.staffImages;

  router.get('/admin/images', staff, async (req, res) => {
    const search = imageSearchOf(req.query);
    const result = await browseImages(images, search);
    if (wantsJson(req)) {
      res.json(result);
      return;
    }
    const nextHref = result.next ? `/admin/images?${new URLSearchParams({ ...search, after: result.next }).toString()}` : null;
    res.render('admin/images', { title: 'Images', search, states: IMAGE_STATES, ...result, nextHref, when });
  });

  router.get('/admin/images/:id', staff, async (req, res) => {
    const history = await imageHistory(images, String(req.params.id));
    if (wantsJson(req)) {
      res.json(history);
      return;
    }
    res.render('admin/image', { title: `Image ${history.imageId}`, history, reasons: REPORT_REASONS, isAdmin: authOf(req).user.role === 'admin', when, bytes: humanBytes });
  });

  // A removed image's thumbnail, from the recovery store (the live one is /admin/images/:id/thumb).
  router.get('/admin/images/:id/removed-thumb', staff, async (req, res) => {
    const found = await removedThumbnail(images, String(req.params.id));
    if (!found) throw new NotFound();
    await serveStoredFile(req, res, deps.storage, {
      key: found.key,
      mime: 'image/webp',
      size: found.record.thumbSize,
      sha256: found.record.thumbSha256,
      lastModified: found.record.createdAt,
      filename: `${found.record.id}-thumb.webp`,
      cacheControl: 'private, no-store',
    });
  });

  return router;
}
