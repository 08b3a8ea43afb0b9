import { Router } from 'express';
import { JOBS } from '../../../jobs/index.js';
import { reauthenticate } from '../../../services/account-settings.service.js';
import { dashboard } from '../../../services/admin-dashboard.service.js';
import { auditCsvLines, listAudit } from '../../../services/audit.service.js';
import { wantsJson, formError } from '../../errors.js';
import { field } from '../../form-fields.js';
import { authOf } from '../../middleware/require-user.middleware.js';
import { REAUTH_PATH, requireStaff, safeNext } from '../../middleware/staff.middleware.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';
import { when } from '../../staff-helpers.js';

const AUDIT_PAGE = 100;
const CSV_BATCH = 500;

/** The audit log's filter from the query string, cut to the columns' sizes. */
const auditFilterOf = (query: Record<string, unknown>) => ({
  action: typeof query.action === 'string' ? query.action.slice(0, 48) : undefined,
  actor: typeof query.actor === 'string' ? query.actor.slice(0, 32) : undefined,
});

/**
 * The staff panel. Every page answers 404 to anyone who is not staff, is sent with Cache-Control: no-store, and
 * every form carries a CSRF token. Actions that destroy need the password typed within STAFF_REAUTH_MINUTES.
 * Moderators get the dashboard, the audit log and the moderation queue (admin-moderation.routes.ts); privacy
 * requests (admin-privacy.routes.ts) and the users pages (admin-users.routes.ts) are for admins.
 */
export function adminRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'repos' | 'settings'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const settings = deps.settings;

  router.get('/admin', staff, async (req, res) => {
    const view = await dashboard(deps.repos, deps.config, JOBS.map((j) => j.name), deps.clock());
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
      await reauthenticate(settings, auth.user, auth.session.idHash, field(req, 'password'), clientInfo(req), 'staff_reauth');
    } catch (err) {
      const shown = formError(req, res, err);
      res.render('admin/reauth', { title: 'Confirm it is you', next: safeNext(field(req, 'next')), error: shown.message });
      return;
    }
    if (wantsJson(req)) {
      res.json({ reauthenticated: true });
      return;
    }
    res.redirect(303, safeNext(field(req, 'next')));
  });

  router.get('/admin/audit', staff, async (req, res) => {
    const filter = auditFilterOf(req.query);
    const entries = await listAudit(deps.repos, filter, { limit: AUDIT_PAGE });
    if (wantsJson(req)) {
      res.json({ entries });
      return;
    }
    res.render('admin/audit', { title: 'Audit log', entries, filter, when });
  });

  // The whole log (or the filtered part) as CSV, written a batch at a time.
  router.get('/admin/audit.csv', staff, async (req, res) => {
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="pixbin-audit-${deps.clock().toISOString().slice(0, 10)}.csv"` });
    for await (const line of auditCsvLines(deps.repos, auditFilterOf(req.query), CSV_BATCH)) res.write(`${line}\n`);
    res.end();
  });

  return router;
}
