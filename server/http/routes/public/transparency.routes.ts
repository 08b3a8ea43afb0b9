import { Router } from 'express';
import type { RouteDeps } from '../../route-deps.js';
import { parsePeriod, transparencyPeriods, transparencyReport, type PeriodInfo, type TransparencyReport } from '../../../services/transparency.service.js';

/**
 * A public page that scans a half-year of records: each period's report is computed at most once every few minutes
 * per process, so that reloading it cannot load the database. Keys are periods that can be shown: from the
 * half-year of the first record to the current one (two a year), never malformed, future or older ones.
 */
const FRESH_MS = 5 * 60 * 1000;

/** /transparency: the public report, one half-year at a time (?period=2026-H1), computed from live data. */
export function transparencyRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'clock'>): Router {
  const router = Router();
  const cache = new Map<string, { report: TransparencyReport; periods: PeriodInfo[] }>();
  let first: { at: Date; record: Date | null } | undefined;
  router.get('/transparency', async (req, res) => {
    const now = deps.clock();
    // The first record (one cheap query) is looked up at most as often as the report itself.
    if (!first || now.getTime() - first.at.getTime() > FRESH_MS || now < first.at) first = { at: now, record: await deps.repos.transparency.firstRecordAt() };
    const period = parsePeriod(req.query.period, now, first.record);
    let page = cache.get(period.key);
    if (!page || now.getTime() - page.report.asOf.getTime() > FRESH_MS || now < page.report.asOf) {
      const [report, periods] = await Promise.all([transparencyReport(deps.repos, period, deps.config.transparencyMinCount, now), transparencyPeriods(deps.repos, now)]);
      page = { report, periods };
      cache.set(period.key, page);
    }
    res.render('public/transparency', { title: 'Transparency report', ...page });
  });
  return router;
}
