import { Router, type Request } from 'express';
import { JOBS } from '../../jobs/index.js';
import { checkCurrentPassword } from '../../services/account-settings.service.js';
import { purgeAccount } from '../../services/account-deletion.service.js';
import { dashboard } from '../../services/admin-dashboard.service.js';
import { DESTRUCTIVE_ACTIONS, moderateImage, REPORT_REASONS, reportQueue } from '../../services/moderation.service.js';
import { isImageId } from '../../lib/ids.js';
import { imageKeys } from '../../storage/keys.js';
import { serveStoredFile } from '../serve-stored-file.js';
import { AUDIT_CSV_HEADER, auditCsvRow, listAudit, recordStaffAction, type StaffActor } from '../../services/audit.service.js';
import {
  listPendingPrivacyRequests,
  PRIVACY_REQUEST_KINDS,
  PRIVACY_REQUEST_STATUSES,
  recordPrivacyRequest,
  updatePrivacyRequest,
} from '../../services/privacy-requests.service.js';
import { AppError, NotFound, wantsJson } from '../errors.js';
import { field } from '../form-fields.js';
import { authOf } from '../middleware/require-user.middleware.js';
import { REAUTH_PATH, requireRecentReauth, requireStaff, safeNext } from '../middleware/staff.middleware.js';
import { clientInfo } from '../request-info.js';
import { deletionDepsOf, settingsDepsOf, type AccountDeps } from './account-deps.js';


const when = (d: Date | null): string => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');
const AUDIT_PAGE = 100;
const CSV_BATCH = 500;

/**
 * The staff panel. Every page answers 404 to anyone who is not staff, is sent with Cache-Control: no-store, and
 * every form carries a CSRF token. Actions that destroy need the password typed within STAFF_REAUTH_MINUTES.
 * Moderators get the dashboard and the audit log; privacy requests and account tools are for admins.
 */
export function adminRoutes(deps: AccountDeps): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const admin = requireStaff('admin');
  const recent = requireRecentReauth(deps.config.staffReauthMinutes, deps.clock);
  const settings = settingsDepsOf(deps);
  const actorOf = (req: Request): StaffActor => ({ user: authOf(req).user, ...clientInfo(req) });
  const moderation = { db: deps.db, images: deps.images, users: deps.users, recovery: deps.recovery, storage: deps.storage, securityLog: deps.securityLog };

  router.get('/admin', staff, async (req, res) => {
    const view = await dashboard(deps.db, deps.config, JOBS.map((j) => j.name), deps.clock());
    if (wantsJson(req)) {
      res.json(view);
      return;
    }
    res.render('admin/dashboard', { title: 'Admin', view, when, role: authOf(req).user.role });
  });

  router.get(REAUTH_PATH, staff, (req, res) => {
    res.render('admin/reauth', { title: 'Confirm it is you', next: safeNext(req.query.next), error: null });
  });

  router.post(REAUTH_PATH, staff, deps.csrf.protect, async (req, res) => {
    const auth = authOf(req);
    try {
      await checkCurrentPassword(settings, auth.user, field(req, 'password'), 'staff_reauth', clientInfo(req));
    } catch (err) {
      if (!(err instanceof AppError) || wantsJson(req)) throw err;
      res.status(err.status).set(err.headers).render('admin/reauth', { title: 'Confirm it is you', next: safeNext(field(req, 'next')), error: err.message });
      return;
    }
    await deps.sessions.markReauthenticated(auth.sessionIdHash, deps.clock());
    if (wantsJson(req)) {
      res.json({ reauthenticated: true });
      return;
    }
    res.redirect(303, safeNext(field(req, 'next')));
  });

  router.get('/admin/audit', staff, async (req, res) => {
    const filter = { action: typeof req.query.action === 'string' ? req.query.action.slice(0, 48) : undefined, actor: typeof req.query.actor === 'string' ? req.query.actor.slice(0, 32) : undefined };
    const entries = await listAudit(deps.db, { ...filter, limit: AUDIT_PAGE });
    if (wantsJson(req)) {
      res.json({ entries });
      return;
    }
    res.render('admin/audit', { title: 'Audit log', entries, filter, when });
  });

  // The whole log (or the filtered part) as CSV, written a batch at a time.
  router.get('/admin/audit.csv', staff, async (req, res) => {
    const action = typeof req.query.action === 'string' ? req.query.action.slice(0, 48) : undefined;
    const actor = typeof req.query.actor === 'string' ? req.query.actor.slice(0, 32) : undefined;
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="pixbin-audit-${deps.clock().toISOString().slice(0, 10)}.csv"` });
    res.write(`${AUDIT_CSV_HEADER.join(',')}\n`);
    let before: Date | undefined;
    for (;;) {
      const batch = await listAudit(deps.db, { action, actor, before, limit: CSV_BATCH });
      for (const entry of batch) res.write(`${auditCsvRow(entry)}\n`);
      if (batch.length < CSV_BATCH) break;
      before = batch[batch.length - 1]!.createdAt;
    }
    res.end();
  });

  router.get('/admin/privacy-requests', admin, async (req, res) => {
    const requests = await listPendingPrivacyRequests(deps.db);
    const now = deps.clock();
    if (wantsJson(req)) {
      res.json({ requests });
      return;
    }
    res.render('admin/privacy-requests', { title: 'Privacy requests', requests, now, when, kinds: PRIVACY_REQUEST_KINDS, statuses: PRIVACY_REQUEST_STATUSES });
  });

  router.post('/admin/privacy-requests', admin, deps.csrf.protect, async (req, res) => {
    const requester = field(req, 'requester');
    const user = requester ? ((await deps.users.findByLogin(requester.trim().toLowerCase())) ?? null) : null;
    const created = await recordPrivacyRequest(deps.db, { kind: field(req, 'kind'), receivedAt: deps.clock(), userId: user?.id ?? null, requester, note: field(req, 'note') });
    await recordStaffAction(deps.db, actorOf(req), { action: 'privacy_request.record', targetType: 'privacy_request', targetId: created.id, detail: { kind: created.kind } }, deps.clock());
    if (wantsJson(req)) {
      res.status(201).json({ request: created });
      return;
    }
    res.redirect(303, '/admin/privacy-requests');
  });

  router.post('/admin/privacy-requests/:id', admin, deps.csrf.protect, async (req, res) => {
    const updated = await updatePrivacyRequest(deps.db, String(req.params.id).slice(0, 36), { status: field(req, 'status'), note: field(req, 'note') }, deps.clock());
    await recordStaffAction(deps.db, actorOf(req), { action: 'privacy_request.update', targetType: 'privacy_request', targetId: updated.id, reason: updated.note, detail: { status: updated.status } }, deps.clock());
    if (wantsJson(req)) {
      res.json({ request: updated });
      return;
    }
    res.redirect(303, '/admin/privacy-requests');
  });

  // Purge now: erases the account a request concerns at once, skipping the grace period. Destructive: re-auth.
  router.post('/admin/privacy-requests/:id/purge', admin, deps.csrf.protect, recent, async (req, res) => {
    const id = String(req.params.id).slice(0, 36);
    const request = (await deps.db('privacy_requests').where({ id }).first()) as { user_id: string | null } | undefined;
    if (!request?.user_id) throw new NotFound('That request is not linked to an account (or the account is already gone).');
    const deletion = deletionDepsOf(deps);
    const userId = request.user_id;
    if (userId === authOf(req).user.id) throw new NotFound('Staff cannot purge their own account from here.');
    await purgeAccount(deletion, userId, deps.clock());
    await updatePrivacyRequest(deps.db, id, { status: 'done', note: field(req, 'note') || 'Account purged at the requester’s request.' }, deps.clock());
    // The audit entry names the request, not the erased account.
    await recordStaffAction(deps.db, actorOf(req), { action: 'account.purge_now', targetType: 'privacy_request', targetId: id, reason: field(req, 'note') || null }, deps.clock());
    if (wantsJson(req)) {
      res.json({ purged: true });
      return;
    }
    res.redirect(303, '/admin/privacy-requests');
  });

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
    await moderateImage(moderation, actorOf(req), imageId, field(req, 'action'), field(req, 'reason'), deps.clock());
    if (wantsJson(req)) {
      res.json({ ok: true });
      return;
    }
    res.redirect(303, '/admin/reports');
  });

  return router;
}
