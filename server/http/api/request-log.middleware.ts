import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Repos } from '../../db/repos.js';

/**
 * The API request log: one row per call when its answer ends (refusals included), with the key, the route pattern
 * (never the raw path, which could carry an id or a pasted key), status, duration, uploaded bytes and the address.
 * The table is rotated after API_LOG_RETENTION_DAYS. Writing the row never holds up or breaks the answer.
 */
type Deps = { repos: Pick<Repos, 'apiRequests'>; clock: () => Date; logger: Logger; routeOf: (req: Request) => string | null };

// nginx's code for a client that went away before the answer was complete.
const CLIENT_CLOSED = 499;

/** What the upload handler reports: the bytes of the image it stored. */
export function recordUploadBytes(res: Response, bytes: number): void {
  res.locals.apiUploadBytes = bytes;
}

export function apiRequestLog(deps: Deps, options: { skip: (route: string | null) => boolean }): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const route = deps.routeOf(req);
      if (options.skip(route)) return;
      const caller = req.caller?.kind === 'api_key' ? req.caller : null;
      const entry = {
        keyId: caller?.keyId ?? null,
        userId: caller?.user.id ?? null,
        method: req.method,
        route: route ?? '(unmatched)',
        status: res.writableFinished ? res.statusCode : CLIENT_CLOSED,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        uploadBytes: typeof res.locals.apiUploadBytes === 'number' ? res.locals.apiUploadBytes : 0,
        ip: req.ip ?? null,
        createdAt: deps.clock(),
      };
      deps.repos.apiRequests.insert(entry).catch((err: unknown) => deps.logger.warn({ err, requestId: res.locals.requestId, route: entry.route }, 'api request log write failed'));
    });
    next();
  };
}
