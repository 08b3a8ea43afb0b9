import { databaseOutageLog } from '../../db/outage-log.js';
import { storageFullLog } from '../../lib/storage-full.js';
import { requestUser } from '../auth-context.js';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { SecurityLogRepo } from '../../db/security-log.repo.js';
import { clientInfo, sendsGpc } from '../request-info.js';

/**
 * Optional page-view logging (PAGE_VIEW_LOGGING, off by default): each HTML page answered 200 becomes a page.view
 * row in the security log, with the route pattern (never the real path, which can hold a token), the address and
 * the signed-in user if any (so an account purge removes that user's rows too),
 * so the rotation job removes it with every other address. Image and thumbnail fetches, JSON, redirects and
 * errors are never logged, and neither is any request that sends Sec-GPC: 1.
 */
export function pageViews(deps: { enabled: boolean; securityLog: () => SecurityLogRepo; logger: Logger; clock: () => Date }): RequestHandler {
  return (req, res, next) => {
    res.locals.gpc = sendsGpc(req);
    if (!deps.enabled || req.method !== 'GET' || res.locals.gpc) {
      next();
      return;
    }
    res.on('finish', () => {
      if (res.statusCode !== 200 || !String(res.getHeader('content-type') ?? '').startsWith('text/html')) return;
      const route = typeof req.route?.path === 'string' ? (req.route.path as string) : 'unknown';
      deps
        .securityLog()
        .insert({ event: 'page.view', userId: requestUser(req)?.id ?? null, ...clientInfo(req), detail: { route } }, deps.clock())
        .catch((err: unknown) => {
          // A full disk (SQLITE_FULL) or a database outage: counted in that burst's summary, not one warning each.
          if (!storageFullLog(deps.logger).failed(err, 'background') && !databaseOutageLog(deps.logger).failed(err, 'background')) deps.logger.warn({ err }, 'could not log a page view');
        });
    });
    next();
  };
}
