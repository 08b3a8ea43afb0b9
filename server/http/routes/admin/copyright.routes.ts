import { Router } from 'express';
import { decideCounterNotice, listCopyrightNotices, recordCounterNotice } from '../../../services/copyright.service.js';
import { wantsJson } from '../../errors.js';
import { counterNoticeInput, field } from '../../form-fields.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';

/**
 * Copyright notices (reports with reason copyright) with their status, and counter-notices: recorded here by
 * staff or filed by the uploader from their account, then accepted or rejected. Moderators and admins.
 */
export function adminCopyrightRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'repos'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');

  router.get('/admin/copyright', staff, async (req, res) => {
    const notices = await listCopyrightNotices(deps.repos);
    if (wantsJson(req)) {
      res.json({ notices, policy: deps.config.repeatInfringer });
      return;
    }
    res.render('admin/copyright', { title: 'Copyright', notices, policy: deps.config.repeatInfringer, when });
  });

  // A counter-notice that arrived by post or email, recorded against the notice it answers.
  router.post('/admin/copyright/:id/counter-notice', staff, deps.csrf.protect, async (req, res) => {
    const counter = await recordCounterNotice(deps.repos, staffActorOf(req), String(req.params.id), counterNoticeInput(req), deps.clock());
    answer(req, res, { counterNotice: counter }, '/admin/copyright');
  });

  router.post('/admin/counter-notices/:id', staff, deps.csrf.protect, async (req, res) => {
    const counter = await decideCounterNotice(deps.repos, staffActorOf(req), String(req.params.id), field(req, 'decision'), field(req, 'note'), deps.clock());
    answer(req, res, { counterNotice: counter }, '/admin/copyright');
  });

  return router;
}
