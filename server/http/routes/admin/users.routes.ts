import { Router, type Request, type RequestHandler } from 'express';
import { staffRevokeApiKey } from '../../../services/api-keys.service.js';
import { suspendUser, unsuspendUser } from '../../../services/suspension.service.js';
import {
  confirmUserEmail,
  findAccount,
  searchUsers,
  setUserQuota,
  setUserRole,
  ROLES,
  signOutEverywhere,
  staffApiOverview,
  staffDeleteAccount,
  staffPurgeAccount,
  staffUserProfile,
} from '../../../services/admin-users.service.js';
import { humanBytes } from '../../../lib/format.js';
import { allowanceOf } from '../../../services/upload-policy.service.js';
import { wantsJson } from '../../errors.js';
import { field } from '../../form-fields.js';
import { authOf } from '../../middleware/require-user.middleware.js';
import { requireRecentReauth, requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';

/** The Users pages (admins only; everyone else gets 404): search, one account's profile, and the actions on it. */
export function adminUsersRoutes(deps: Pick<RouteDeps, 'apiKeys' | 'clock' | 'config' | 'csrf' | 'deletion' | 'repos' | 'settings' | 'staffUsers'>): Router {
  const router = Router();
  const admin = requireStaff('admin');
  const recent = requireRecentReauth(deps);
  const staffUsers = deps.staffUsers;
  const actorOf = staffActorOf;
  const idOf = (req: Request) => String(req.params.id).slice(0, 32);
  // The suspension service checks the reason before the account: an unknown id must still be a 404.
  const known: RequestHandler = async (req, _res, next) => {
    await findAccount(staffUsers, idOf(req));
    next();
  };

  router.get('/admin/users', admin, async (req, res) => {
    const result = await searchUsers(staffUsers, req.query.q, req.query.page);
    if (wantsJson(req)) {
      res.json(result);
      return;
    }
    res.render('admin/users', { title: 'Users', ...result, when, bytes: humanBytes });
  });

  router.get('/admin/users/:id', admin, async (req, res) => {
    const now = deps.clock();
    const profile = await staffUserProfile(staffUsers, idOf(req), now);
    const api = await staffApiOverview(staffUsers, profile.user, now, deps.config.apiLogRetentionDays);
    if (wantsJson(req)) {
      const { passwordHash: _hash, ...user } = profile.user;
      res.json({ ...profile, user, api });
      return;
    }
    const allowance = allowanceOf(profile.user, deps.config);
    res.render('admin/user', { title: `User ${profile.user.username}`, profile, allowance, api, self: profile.user.id === authOf(req).user.id, roles: ROLES, when, bytes: humanBytes });
  });

  router.post('/admin/users/:id/suspend', admin, deps.csrf.protect, known, async (req, res) => {
    await suspendUser(deps.repos, actorOf(req), idOf(req), field(req, 'reason'), deps.clock());
    answer(req, res, { suspended: true }, `/admin/users/${idOf(req)}`);
  });

  router.post('/admin/users/:id/unsuspend', admin, deps.csrf.protect, known, async (req, res) => {
    await unsuspendUser(deps.repos, actorOf(req), idOf(req), field(req, 'reason'), deps.clock());
    answer(req, res, { suspended: false }, `/admin/users/${idOf(req)}`);
  });

  router.post('/admin/users/:id/quota', admin, deps.csrf.protect, async (req, res) => {
    const quotaBytes = await setUserQuota(staffUsers, actorOf(req), idOf(req), field(req, 'quota'), deps.clock());
    answer(req, res, { quotaBytes }, `/admin/users/${idOf(req)}`);
  });

  // Like the quota: it changes what the account may store, and undoes nothing, so no fresh password.
  router.post('/admin/users/:id/confirm-email', admin, deps.csrf.protect, async (req, res) => {
    const confirmed = await confirmUserEmail(staffUsers, actorOf(req), idOf(req), deps.clock());
    answer(req, res, { emailConfirmed: true, changed: confirmed }, `/admin/users/${idOf(req)}`);
  });

  router.post('/admin/users/:id/role', admin, deps.csrf.protect, recent, async (req, res) => {
    const role = await setUserRole(staffUsers, actorOf(req), idOf(req), field(req, 'role'), deps.clock());
    answer(req, res, { role }, `/admin/users/${idOf(req)}`);
  });

  router.post('/admin/users/:id/sign-out', admin, deps.csrf.protect, async (req, res) => {
    const sessions = await signOutEverywhere(staffUsers, actorOf(req), idOf(req), deps.clock());
    answer(req, res, { sessionsEnded: sessions }, `/admin/users/${idOf(req)}`);
  });

  // Protective, like signing out everywhere: no fresh password needed to stop a leaked key.
  router.post('/admin/users/:id/api-keys/:keyId/revoke', admin, deps.csrf.protect, async (req, res) => {
    await staffRevokeApiKey(deps.apiKeys, actorOf(req), idOf(req), String(req.params.keyId).slice(0, 32));
    answer(req, res, { revoked: true }, `/admin/users/${idOf(req)}#api-keys-heading`);
  });

  // Destructive: the password typed within STAFF_REAUTH_MINUTES.
  router.post('/admin/users/:id/delete', admin, deps.csrf.protect, recent, async (req, res) => {
    const purgeAt = await staffDeleteAccount(staffUsers, actorOf(req), idOf(req), field(req, 'reason'), deps.clock());
    answer(req, res, { deletionRequested: true, purgeAt: purgeAt.toISOString() }, `/admin/users/${idOf(req)}`);
  });

  router.post('/admin/users/:id/purge', admin, deps.csrf.protect, recent, async (req, res) => {
    await staffPurgeAccount(staffUsers, actorOf(req), idOf(req), field(req, 'reason'), deps.clock());
    answer(req, res, { purged: true }, '/admin/users');
  });

  return router;
}
