import { Router } from 'express';
import { purgeAccount } from '../../../services/account-deletion.service.js';
import { assertErasable } from '../../../services/admin-users.service.js';
import { accountOfPrivacyRequest } from '../../../services/admin-users.service.js';
import { recordStaffAction } from '../../../services/audit.service.js';
import {
  listPendingPrivacyRequests,
  PRIVACY_REQUEST_KINDS,
  PRIVACY_REQUEST_STATUSES,
  recordPrivacyRequest,
  updatePrivacyRequest,
} from '../../../services/privacy-requests.service.js';
import { wantsJson } from '../../errors.js';
import { field } from '../../form-fields.js';
import { requireRecentReauth, requireStaff } from '../../middleware/staff.middleware.js';
import { deletionDepsOf, type AccountDeps } from '../../account-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';
import { sendExport } from '../../export-download.js';

/** Privacy requests (admins only): the register, its statuses, and the tools to fulfil one. */
export function adminPrivacyRoutes(deps: AccountDeps): Router {
  const router = Router();
  const admin = requireStaff('admin');
  const recent = requireRecentReauth(deps.config.staffReauthMinutes, deps.clock);
  const actorOf = staffActorOf;

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
    answer(req, res, { request: created }, '/admin/privacy-requests', 201);
  });

  router.post('/admin/privacy-requests/:id', admin, deps.csrf.protect, async (req, res) => {
    const updated = await updatePrivacyRequest(deps.db, String(req.params.id).slice(0, 36), { status: field(req, 'status'), note: field(req, 'note') }, deps.clock());
    await recordStaffAction(deps.db, actorOf(req), { action: 'privacy_request.update', targetType: 'privacy_request', targetId: updated.id, reason: updated.note, detail: { status: updated.status } }, deps.clock());
    answer(req, res, { request: updated }, '/admin/privacy-requests');
  });

  // Purge now: erases the account a request concerns at once, skipping the grace period. Destructive: re-auth.
  router.post('/admin/privacy-requests/:id/purge', admin, deps.csrf.protect, recent, async (req, res) => {
    const id = String(req.params.id).slice(0, 36);
    const target = await accountOfPrivacyRequest(deps, id);
    assertErasable(actorOf(req), target);
    await purgeAccount(deletionDepsOf(deps), target.id, deps.clock());
    await updatePrivacyRequest(deps.db, id, { status: 'done', note: field(req, 'note') || 'Account purged at the requester’s request.' }, deps.clock());
    // The audit entry names the request, not the erased account.
    await recordStaffAction(deps.db, actorOf(req), { action: 'account.purge_now', targetType: 'privacy_request', targetId: id, reason: field(req, 'note') || null }, deps.clock());
    answer(req, res, { purged: true }, '/admin/privacy-requests');
  });

  // Access and portability for someone without a login (or who asked by letter): the ZIP the holder would get.
  // It hands over personal data, so it needs a fresh password; the audit entry names the request, nothing more.
  router.get('/admin/privacy-requests/:id/export', admin, recent, async (req, res) => {
    const id = String(req.params.id).slice(0, 36);
    const user = await accountOfPrivacyRequest(deps, id);
    const now = deps.clock();
    await recordStaffAction(deps.db, actorOf(req), { action: 'privacy_request.export', targetType: 'privacy_request', targetId: id }, now);
    await sendExport(req, res, deps, user, now);
  });

  return router;
}
