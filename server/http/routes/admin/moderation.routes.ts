import { Router, type RequestHandler } from 'express';
import { albumQueue, moderateAlbum } from '../../../services/album-moderation.service.js';
import { banUploaderOf } from '../../../services/ip-bans.service.js';
import { DESTRUCTIVE_ACTIONS, moderateImage, moderateImages } from '../../../services/moderation.service.js';
import { REPORT_REASONS, reportQueue } from '../../../services/reports.service.js';
import { suspendUser } from '../../../services/suspension.service.js';
import { isAlbumId } from '../../../services/albums.service.js';
import { isImageId } from '../../../lib/ids.js';
import { imageKeys } from '../../../storage/keys.js';
import { serveStoredFile } from '../../serve-stored-file.js';
import { BadRequest, NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { checked, field, fieldList, pageParam } from '../../form-fields.js';
import { requireRecentReauth, requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';

const messages = {
  nothingSelected: 'Tick at least one image first.',
  tooMany: () => `At most ${BULK_MAX} images can be decided at once.`,
  badId: 'One of the ticked ids is not an image id.',
  guestUpload: 'A guest upload has no account to suspend; ban the uploader’s address instead.',
};

const BULK_MAX = 100;

type QueuePager = { page: number; hasNext: boolean; albumPage: number; albumHasNext: boolean };

/** The queue's pager links (null where there is no such page), keeping the filter and the other queue's page. */
function queueLinks(filter: { reason: string | undefined; sort: string }, p: QueuePager) {
  const href = (page: number, albumPage: number) => {
    const query = new URLSearchParams({ ...(filter.reason ? { reason: filter.reason } : {}), sort: filter.sort });
    if (page > 1) query.set('page', String(page));
    if (albumPage > 1) query.set('album_page', String(albumPage));
    return `/admin/reports?${query.toString()}`;
  };
  return {
    previous: p.page > 1 ? href(p.page - 1, p.albumPage) : null,
    next: p.hasNext ? href(p.page + 1, p.albumPage) : null,
    albumPrevious: p.albumPage > 1 ? href(p.page, p.albumPage - 1) : null,
    albumNext: p.albumHasNext ? href(p.page, p.albumPage + 1) : null,
  };
}

/** The moderation queue and its decisions (moderators and admins). */
export function adminModerationRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'logger' | 'moderation' | 'repos' | 'settings' | 'storage'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const recent = requireRecentReauth(deps);
  // Removing destroys (the bytes go to the recovery store): it needs a fresh password.
  const recentIfDestructive: RequestHandler = (req, res, next) => (DESTRUCTIVE_ACTIONS.has(field(req, 'action')) ? recent(req, res, next) : next());
  const moderation = deps.moderation;

  router.get('/admin/reports', staff, async (req, res) => {
    const reason = typeof req.query.reason === 'string' && Object.hasOwn(REPORT_REASONS, req.query.reason) ? req.query.reason : undefined;
    const sort = req.query.sort === 'newest' ? 'newest' : 'oldest';
    // Each queue pages on its own: ?page= for images, ?album_page= for albums.
    const page = pageParam(req, 'page');
    const albumPage = pageParam(req, 'album_page');
    const images = await reportQueue(deps.repos, { reason, sort, page });
    const albums = await albumQueue(deps.repos, { reason, sort, page: albumPage });
    const pager = { page, hasNext: images.hasNext, albumPage, albumHasNext: albums.hasNext };
    if (wantsJson(req)) {
      res.json({ groups: images.groups, albumGroups: albums.groups, ...pager });
      return;
    }
    res.render('admin/reports', { title: 'Reports', groups: images.groups, albumGroups: albums.groups, pager: { ...pager, links: queueLinks({ reason, sort }, pager) }, reasons: REPORT_REASONS, filter: { reason, sort }, when, maxBanDays: deps.config.ipLogRetentionDays, bulkMax: BULK_MAX });
  });

  // Staff see a reported image's thumbnail whatever its state (hidden images answer 404 everywhere else).
  router.get('/admin/images/:id/thumb', staff, async (req, res) => {
    const image = isImageId(String(req.params.id)) ? await deps.repos.images.findById(String(req.params.id)) : null;
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

  // One decision about one image.
  router.post('/admin/images/:id/moderate', staff, deps.csrf.protect, recentIfDestructive, async (req, res) => {
    const imageId = String(req.params.id);
    if (!isImageId(imageId)) throw new NotFound();
    await moderateImage(moderation, staffActorOf(req), imageId, field(req, 'action'), field(req, 'reason'), deps.clock(), { blocklist: checked(req, 'blocklist') });
    // The image's history page sends back=history, to come back to it.
    answer(req, res, { ok: true }, field(req, 'back') === 'history' ? `/admin/images/${imageId}` : '/admin/reports');
  });

  // The same decision for every ticked image: each is applied (and audited) on its own; failures are listed.
  router.post('/admin/images/bulk', staff, deps.csrf.protect, recentIfDestructive, async (req, res) => {
    const ids = [...new Set(fieldList(req, 'ids'))];
    if (!ids.length) throw new BadRequest(messages.nothingSelected, 'nothing_selected');
    if (ids.length > BULK_MAX) throw new BadRequest(messages.tooMany(), 'too_many');
    if (!ids.every(isImageId)) throw new BadRequest(messages.badId, 'bad_id');
    const result = await moderateImages(moderation, staffActorOf(req), ids, field(req, 'action'), field(req, 'reason'), deps.clock(), { blocklist: checked(req, 'blocklist') });
    if (wantsJson(req)) {
      res.json(result);
      return;
    }
    res.render('notice', {
      title: 'Decisions applied',
      message: `${result.done} of ${ids.length} images decided.${result.failed.length ? ` Not done: ${result.failed.map((f) => `${f.imageId} (${f.error})`).join('; ')}` : ''}`,
      next: { href: '/admin/reports', label: 'Back to the reports' },
    });
  });

  router.post('/admin/albums/:id/moderate', staff, deps.csrf.protect, async (req, res) => {
    const albumId = String(req.params.id);
    if (!isAlbumId(albumId)) throw new NotFound();
    await moderateAlbum(deps.repos, staffActorOf(req), albumId, field(req, 'action'), field(req, 'reason'), deps.clock());
    answer(req, res, { ok: true }, '/admin/reports');
  });

  // Suspends the account that uploaded a reported image (moderators: ordinary accounts only).
  router.post('/admin/images/:id/suspend-uploader', staff, deps.csrf.protect, async (req, res) => {
    const imageId = String(req.params.id);
    const image = isImageId(imageId) ? await deps.repos.images.findById(imageId) : null;
    if (!image) throw new NotFound();
    if (!image.ownerId) throw new BadRequest(messages.guestUpload, 'guest_upload');
    await suspendUser(deps.repos, staffActorOf(req), image.ownerId, field(req, 'reason'), deps.clock(), { imageId });
    answer(req, res, { suspended: true }, '/admin/reports');
  });

  // Bans the address the image came from, without showing it to the moderator.
  router.post('/admin/images/:id/ban-uploader', staff, deps.csrf.protect, async (req, res) => {
    const imageId = String(req.params.id);
    if (!isImageId(imageId)) throw new NotFound();
    const ban = await banUploaderOf(deps.repos, staffActorOf(req), imageId, Number(field(req, 'days')), field(req, 'reason'), deps.config.ipLogRetentionDays, deps.clock());
    answer(req, res, { banned: true, banId: ban.id, expiresAt: ban.expiresAt }, '/admin/reports');
  });

  return router;
}
