import { Router } from 'express';
import { addBan, liftBan, listBans, parseCidr } from '../../../services/ip-bans.service.js';
import { wantsJson, formError } from '../../errors.js';
import { field } from '../../form-fields.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';

/** Upload bans by address or range (moderators and admins). Each expires within IP_LOG_RETENTION_DAYS. */
export function adminBansRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'repos'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');
  const maxDays = deps.config.ipLogRetentionDays;
  const page = async (extra: object = {}) => ({ title: 'Upload bans', bans: await listBans(deps.repos, deps.clock()), maxDays, when, values: {}, error: null, ...extra });

  router.get('/admin/bans', staff, async (req, res) => {
    const view = await page();
    if (wantsJson(req)) {
      res.json({ bans: view.bans });
      return;
    }
    res.render('admin/bans', view);
  });

  router.post('/admin/bans', staff, deps.csrf.protect, async (req, res) => {
    const values = { cidr: field(req, 'cidr'), days: field(req, 'days'), reason: field(req, 'reason') };
    try {
      const ban = await addBan(deps.repos, staffActorOf(req), { cidr: parseCidr(values.cidr), days: Number(values.days), reason: values.reason }, maxDays, deps.clock());
      answer(req, res, { ban }, '/admin/bans', 201);
    } catch (err) {
      const shown = formError(req, res, err);
      res.render('admin/bans', await page({ values, error: shown.message }));
    }
  });

  router.post('/admin/bans/:id/lift', staff, deps.csrf.protect, async (req, res) => {
    await liftBan(deps.repos, staffActorOf(req), String(req.params.id), deps.clock());
    answer(req, res, { lifted: true }, '/admin/bans');
  });

  return router;
}
