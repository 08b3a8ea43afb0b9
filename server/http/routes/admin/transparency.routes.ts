import { Router } from 'express';
import type { RouteDeps } from '../../route-deps.js';
import { requireStaff } from '../../middleware/staff.middleware.js';
import { resolvePeriod, transparencyCsv, transparencyReport } from '../../../services/transparency.service.js';

/**
 * Admin downloads of the transparency report, as CSV and JSON: the same suppressed figures as the public page, so
 * a file passed on can never say more than /transparency does. Anyone else gets 404.
 */
export function adminTransparencyRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'clock'>): Router {
  const router = Router();
  const admin = requireStaff('admin');
  const reportOf = async (period: unknown) => {
    const now = deps.clock();
    return transparencyReport(deps.repos, await resolvePeriod(deps.repos, period, now), deps.config.transparencyMinCount, now);
  };
  router.get('/admin/transparency.json', admin, async (req, res) => {
    const report = await reportOf(req.query.period);
    res.set('Content-Disposition', `attachment; filename="pixbin-transparency-${report.period.key}.json"`).json(report);
  });
  router.get('/admin/transparency.csv', admin, async (req, res) => {
    const report = await reportOf(req.query.period);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="pixbin-transparency-${report.period.key}.csv"` }).send(transparencyCsv(report));
  });
  return router;
}
