import { Router } from 'express';
import { listBlocklist, removeFromBlocklist } from '../../../services/hash-blocklist.service.js';
import { NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { field } from '../../form-fields.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { answer, when } from '../../staff-helpers.js';
import { staffActorOf } from '../../staff-helpers.js';

const ENTRY_ID = /^[0-9a-f-]{36}$/i;

/** The hash blocklist (moderators and admins): what removed images it refuses, and taking an entry off again. */
export function adminBlocklistRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'repos'>): Router {
  const router = Router();
  const staff = requireStaff('moderator', 'admin');

  router.get('/admin/blocklist', staff, async (req, res) => {
    const entries = await listBlocklist(deps.repos);
    if (wantsJson(req)) {
      // The hashes stay on the server: staff need when, why and who, not the fingerprints.
      res.json({ entries: entries.map(({ pixelSha256: _p, phash: _h, ...entry }) => entry) });
      return;
    }
    res.render('admin/blocklist', { title: 'Hash blocklist', entries, matchDistance: deps.config.blocklistMatchDistance, when });
  });

  router.post('/admin/blocklist/:id/remove', staff, deps.csrf.protect, async (req, res) => {
    const id = String(req.params.id);
    if (!ENTRY_ID.test(id)) throw new NotFound();
    await removeFromBlocklist(deps.repos, staffActorOf(req), id, field(req, 'reason'), deps.clock());
    answer(req, res, { removed: true }, '/admin/blocklist');
  });

  return router;
}
