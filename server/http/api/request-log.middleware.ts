import { databaseOutageLog } from '../../db/outage-log.js';
import { storageFullLog } from '../../lib/storage-full.js';
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

/** A key whose secret matched but that was refused (revoked, expired, account barred): its owner sees the attempt. */
export function recordRefusedKey(res: Response, key: { keyId: string; userId: string }): void {
  res.locals.apiRefusedKey = key;
}

/** Who the row is about: the authenticated key, else a refused key whose secret matched, else nobody. */
function keyOf(req: Request, res: Response): { keyId: string | null; userId: string | null } {
  if (req.caller?.kind === 'api_key') return { keyId: req.caller.keyId, userId: req.caller.user.id };
  const refused = res.locals.apiRefusedKey as { keyId: string; userId: string } | undefined;
  return refused ? { keyId: refused.keyId, userId: refused.userId } : { keyId: null, userId: null };
}

// A database error's message inlines the statement's values (the address among them): the warning carries its code only.
const errorCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && (typeof err.code === 'string' || typeof err.code === 'number') ? String(err.code) : undefined;

export function apiRequestLog(deps: Deps, options: { skip: (route: string | null) => boolean }): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const route = deps.routeOf(req);
      if (options.skip(route)) return;
      const entry = {
        ...keyOf(req, res),
        method: req.method,
        route: route ?? '(unmatched)',
        status: res.writableFinished ? res.statusCode : CLIENT_CLOSED,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        uploadBytes: typeof res.locals.apiUploadBytes === 'number' ? res.locals.apiUploadBytes : 0,
        ip: req.ip ?? null,
        createdAt: deps.clock(),
      };
      deps.repos.apiRequests
        .insert(entry)
        .catch((err: unknown) => {
          // During a database outage or with the disk full (SQLITE_FULL) the row is lost like the request: counted in
          // that burst's summary, not one warning each. The disk first: a full disk is not a database outage.
          if (!storageFullLog(deps.logger).failed(err, 'background') && !databaseOutageLog(deps.logger).failed(err, 'background')) deps.logger.warn({ code: errorCode(err), requestId: res.locals.requestId, route: entry.route }, 'api request log write failed');
        });
    });
    next();
  };
}
