import { Router } from 'express';
import { decideCounterNotice, fileCounterNotice, listCopyrightNotices } from '../../../services/copyright.service.js';
import { recordStaffAction } from '../../../services/audit.service.js';
import { NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { counterNoticeInput, field } from '../../form-fields.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import type { AccountDeps } from '../../account-deps.js';
import { answer, staffActorOf, when } from '../../staff-helpers.js';

/**
 * Copyright notices (reports with reason copyright) with their status, and counter-notices: recorded here by
 * staff or filed by the uploader from their account, then accepted or rejected. Moderators and admins.
 */
export function adminCopyrightRoutes(deps: AccountDeps): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');

  router.get('/admin/copyright', staff, async (req, res) => {
    const notices = await listCopyrightNotices(deps.db);
    if (wantsJson(req)) {
      res.json({ notices, policy: deps.config.repeatInfringer });
      return;
    }
    res.render('admin/copyright', { title: 'Copyright', notices, policy: deps.config.repeatInfringer, when });
  });

  // A counter-notice that arrived by post or email, recorded against the notice it answers.
  router.post('/admin/copyright/:id/counter-notice', staff, deps.csrf.protect, async (req, res) => {
    const report = (await deps.db('reports').where({ id: String(req.params.id).slice(0, 36), reason: 'copyright' }).first('id', 'image_id')) as { id: string; image_id: string | null } | undefined;
    if (!report?.image_id) throw new NotFound('There is no copyright notice about an image with that id.');
    const counter = await fileCounterNotice(deps.db, report.image_id, counterNoticeInput(req), { userId: null, reportId: report.id }, deps.clock());
    await recordStaffAction(deps.db, staffActorOf(req), { action: 'counter_notice.record', targetType: 'counter_notice', targetId: counter.id, detail: { imageId: report.image_id } }, deps.clock());
    answer(req, res, { counterNotice: counter }, '/admin/copyright');
  });

  router.post('/admin/counter-notices/:id', staff, deps.csrf.protect, async (req, res) => {
    const counter = await decideCounterNotice(deps.db, staffActorOf(req), String(req.params.id), field(req, 'decision'), field(req, 'note'), deps.clock());
    answer(req, res, { counterNotice: counter }, '/admin/copyright');
  });

  return router;
}
