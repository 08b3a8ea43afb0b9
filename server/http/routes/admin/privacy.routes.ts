import { Router } from 'express';
import { accountOfPrivacyRequest, purgeForPrivacyRequest } from '../../../services/admin-users.service.js';
import { recordStaffAction } from '../../../services/audit.service.js';
import {
  listPendingPrivacyRequests,
  PRIVACY_REQUEST_KINDS,
  PRIVACY_REQUEST_STATUSES,
  staffRecordPrivacyRequest,
  staffUpdatePrivacyRequest,
} from '../../../services/privacy-requests.service.js';
import { wantsJson } from '../../errors.js';
import { field } from '../../form-fields.js';
import { requireRecentReauth, requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';
import { sendExport } from '../../export-download.js';

/** Privacy requests (admins only): the register, its statuses, and the tools to fulfil one. */
export function adminPrivacyRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'deletion' | 'logger' | 'repos' | 'settings' | 'staffUsers' | 'storage'>): Router {
  const router = Router();
  const admin = requireStaff('admin');
  const recent = requireRecentReauth(deps);
  const actorOf = staffActorOf;
  const staffUsers = deps.staffUsers;

  router.get('/admin/privacy-requests', admin, async (req, res) => {
    const requests = await listPendingPrivacyRequests(deps.repos);
    const now = deps.clock();
    if (wantsJson(req)) {
      res.json({ requests });
      return;
    }
    res.render('admin/privacy-requests', { title: 'Privacy requests', requests, now, when, kinds: PRIVACY_REQUEST_KINDS, statuses: PRIVACY_REQUEST_STATUSES });
  });

  router.post('/admin/privacy-requests', admin, deps.csrf.protect, async (req, res) => {
    const requester = field(req, 'requester');
    const user = requester ? ((await deps.repos.users.findByLogin(requester.trim().toLowerCase())) ?? null) : null;
    const created = await staffRecordPrivacyRequest(deps.repos, actorOf(req), { kind: field(req, 'kind'), receivedAt: deps.clock(), userId: user?.id ?? null, requester, note: field(req, 'note') });
    answer(req, res, { request: created }, '/admin/privacy-requests', 201);
  });

  router.post('/admin/privacy-requests/:id', admin, deps.csrf.protect, async (req, res) => {
    const updated = await staffUpdatePrivacyRequest(deps.repos, actorOf(req), String(req.params.id).slice(0, 36), { status: field(req, 'status'), note: field(req, 'note') }, deps.clock());
    answer(req, res, { request: updated }, '/admin/privacy-requests');
  });

  // Purge now: erases the account a request concerns at once, skipping the grace period. Destructive: re-auth.
  router.post('/admin/privacy-requests/:id/purge', admin, deps.csrf.protect, recent, async (req, res) => {
    await purgeForPrivacyRequest(staffUsers, actorOf(req), String(req.params.id), field(req, 'note'), deps.clock());
    answer(req, res, { purged: true }, '/admin/privacy-requests');
  });

  // Access and portability for someone without a login (or who asked by letter): the ZIP the holder would get.
  // It hands over personal data, so it needs a fresh password; the audit entry names the request, nothing more.
  router.get('/admin/privacy-requests/:id/export', admin, recent, async (req, res) => {
    const id = String(req.params.id).slice(0, 36);
    const user = await accountOfPrivacyRequest(staffUsers, id);
    const now = deps.clock();
    await recordStaffAction(deps.repos, actorOf(req), { action: 'privacy_request.export', targetType: 'privacy_request', targetId: id }, now);
    await sendExport(req, res, deps, user, now);
  });

  return router;
}
