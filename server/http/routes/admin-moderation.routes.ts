import { Router, type Request } from 'express';
import type { StaffActor } from '../../services/audit.service.js';
import { DESTRUCTIVE_ACTIONS, moderateImage, REPORT_REASONS, reportQueue } from '../../services/moderation.service.js';
import { isImageId } from '../../lib/ids.js';
import { imageKeys } from '../../storage/keys.js';
import { serveStoredFile } from '../serve-stored-file.js';
import { NotFound, wantsJson } from '../errors.js';
import { checked, field } from '../form-fields.js';
import { authOf } from '../middleware/require-user.middleware.js';
import { requireRecentReauth, requireStaff } from '../middleware/staff.middleware.js';
import { clientInfo } from '../request-info.js';
import type { AccountDeps } from './account-deps.js';
import { when } from './admin-format.js';

/** The moderation queue and its decisions (moderators and admins). */
export function adminModerationRoutes(deps: AccountDeps): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const recent = requireRecentReauth(deps.config.staffReauthMinutes, deps.clock);
  const actorOf = (req: Request): StaffActor => ({ user: authOf(req).user, ...clientInfo(req) });
  const moderation = { db: deps.db, images: deps.images, users: deps.users, recovery: deps.recovery, storage: deps.storage, securityLog: deps.securityLog };

  router.get('/admin/reports', staff, async (req, res) => {
    const reason = typeof req.query.reason === 'string' && Object.hasOwn(REPORT_REASONS, req.query.reason) ? req.query.reason : undefined;
    const sort = req.query.sort === 'newest' ? 'newest' : 'oldest';
    const groups = await reportQueue(deps.db, { reason, sort });
    if (wantsJson(req)) {
      res.json({ groups });
      return;
    }
    res.render('admin/reports', { title: 'Reports', groups, reasons: REPORT_REASONS, filter: { reason, sort }, when });
  });

  // Staff see a reported image's thumbnail whatever its state (hidden images answer 404 everywhere else).
  router.get('/admin/images/:id/thumb', staff, async (req, res) => {
    const image = isImageId(String(req.params.id)) ? await deps.images.findById(String(req.params.id)) : null;
    if (!image) throw new NotFound();
    await serveStoredFile(req, res, deps.storage, {
      key: imageKeys(image).thumbnail,
      mime: 'image/webp',
      size: image.thumbSize,
      sha256: image.thumbSha256,
      lastModified: image.createdAt,
      filename: `${image.id}-thumb.webp`,
      cacheControl: 'private, no-store',
    });
  });

  // One decision about one image. Removing destroys (bytes go to the recovery store): it needs a fresh password.
  router.post('/admin/images/:id/moderate', staff, deps.csrf.protect, (req, res, next) => (DESTRUCTIVE_ACTIONS.has(field(req, 'action')) ? recent(req, res, next) : next()), async (req, res) => {
    const imageId = String(req.params.id);
    if (!isImageId(imageId)) throw new NotFound();
    await moderateImage(moderation, actorOf(req), imageId, field(req, 'action'), field(req, 'reason'), deps.clock(), { blocklist: checked(req, 'blocklist') });
    if (wantsJson(req)) {
      res.json({ ok: true });
      return;
    }
    res.redirect(303, '/admin/reports');
  });

  return router;
}
