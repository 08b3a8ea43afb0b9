import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { AppError, type ErrorKind, InsufficientStorage, messages, NotFound, ServiceUnavailable } from '../errors.js';
import { databaseOutageLog } from '../db/outage-log.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { isStorageFull, noRoomLog, storageFullLog } from '../lib/storage-full.js';
import { StorageUnavailable } from '../storage/storage.js';

/** The one place that knows what status code each kind of error answers with. */
export const STATUS_OF: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media: 415,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  insufficient_storage: 507,
  internal: 500,
};

/** A database restart or failover takes seconds; the outage log says when it is over. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const FILE_HEADERS = ['ETag', 'Last-Modified', 'Content-Disposition', 'Content-Range', 'Content-Length', 'Accept-Ranges'];

export function wantsJson(req: Request): boolean {
  // A route that always answers JSON (oEmbed) says so, so its failures (a database outage) are JSON too.
  if (req.res?.locals.alwaysJson === true) return true;
  return req.accepts(['html', 'json']) === 'json';
}

/** What the client is told about an error: status, stable code, safe message and the headers that belong to it. */
export type PublicError = { status: number; code: string; message: string; headers: Record<string, string>; field?: string };

export function statusOf(err: AppError): number {
  return STATUS_OF[err.kind];
}

/** A file upload (multipart POST): a full disk met while serving it may talk about "your file". */
export function isUploadRequest(req: Request): boolean {
  return req.method === 'POST' && Boolean(req.is('multipart/form-data'));
}

/**
 * Turns any thrown value into a status, code and a message safe for the client. context.upload: the request is an
 * upload (isUploadRequest); a full disk met by any other request (a login, a settings save writing to SQLite) gets
 * a message that says nothing about a file.
 */
export function toPublicError(err: unknown, context: { upload?: boolean } = {}): PublicError {
  let known: AppError | null = err instanceof AppError ? err : null;
  // Before the database check: SQLITE_FULL is a full disk, not a database that stopped answering.
  if (!known && isStorageFull(err)) known = new InsufficientStorage(context.upload ? messages.storageFull : messages.storageFullNeutral);
  if (!known && err instanceof StorageUnavailable) known = new ServiceUnavailable(messages.storageUnavailable, 'storage_unavailable', 30);
  if (!known && isDatabaseUnavailable(err)) known = new ServiceUnavailable(messages.databaseUnavailable, 'database_unavailable', DATABASE_RETRY_AFTER_SECONDS);
  if (known) {
    const headers: Record<string, string> = {};
    if (known.retryAfterSeconds !== undefined) headers['Retry-After'] = String(known.retryAfterSeconds);
    return { status: statusOf(known), code: known.code, message: known.message, headers, ...(known.field ? { field: known.field } : {}) };
  }
  // body-parser and friends mark client errors with a status; their messages are written for developers.
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, code: 'bad_request', message: messages.malformed, headers: {} };
  return { status: 500, code: 'internal_error', message: messages.internal, headers: {} };
}

/**
 * For a form route: when err is one the person can fix (a 4xx AppError) and the client is a browser, sets the
 * status and the error's headers (Retry-After, no-store) and returns it, so the route re-renders its form with the
 * message. Anything else is rethrown to the error pipeline.
 */
export function formError(req: Request, res: Response, err: unknown, accept: (e: PublicError) => boolean = () => true): PublicError {
  if (!(err instanceof AppError) || wantsJson(req)) throw err;
  const publicError = toPublicError(err);
  if (publicError.status >= 500 || !accept(publicError)) throw err;
  res.status(publicError.status).set({ ...publicError.headers, 'Cache-Control': 'no-store' });
  return publicError;
}

const BACKEND_ERROR_CODES: ReadonlySet<string> = new Set(['storage_unavailable', 'storage_full', 'database_unavailable']);

/** Marks an answer as a storage or database failure, for the metrics (requestContext counts it when the answer ends). */
export function noteBackendError(res: Response, error: PublicError): void {
  if (BACKEND_ERROR_CODES.has(error.code)) res.locals.backendError = error.code;
}

export const notFoundHandler: RequestHandler = (_req, _res, next) => next(new NotFound());

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The one error pipeline: log unknown errors with the request id, answer in the client's format, never leak
 * internals. A database outage is logged once and counted (db/outage-log.ts); probeDatabase lets that log say
 * when the database answers again.
 */
export function errorHandler(logger: Logger, options: { probeDatabase?: () => Promise<unknown> } = {}): ErrorRequestHandler {
  const outage = databaseOutageLog(logger);
  const diskFull = storageFullLog(logger);
  const noRoom = noRoomLog(logger);
  if (options.probeDatabase) outage.probeWith(options.probeDatabase);
  return (err, req, res, _next) => {
    const publicError = toPublicError(err, { upload: isUploadRequest(req) });
    const requestId = String(res.locals.requestId ?? '');
    noteBackendError(res, publicError);
    // The route pattern, not the path: a path can carry a secret (a delete key, an emailed token).
    // A full disk and a database outage are logged once per burst and counted, not once per request; an upload
    // too large for the space left is a rate-limited warning (lib/storage-full.ts).
    if (publicError.status >= 500 && !noRoom.failed(err) && !diskFull.failed(err) && !outage.failed(err)) {
      logger.error({ err, requestId, method: req.method, route: typeof req.route?.path === 'string' ? req.route.path : '(none)' }, 'request failed');
    }
    if (res.headersSent) {
      // Nothing more can be said to the client (a response failed midway, a client hung up, a body was cut off
      // after its 408): close the connection here. Express's final handler would also print the error to stderr.
      req.socket?.destroy();
      return;
    }
    // A failure can come after a file response began setting its headers; none of them describe an error.
    for (const header of FILE_HEADERS) res.removeHeader(header);
    res.status(publicError.status).set({ ...publicError.headers, 'Cache-Control': 'no-store' });
    if (wantsJson(req)) {
      res.json({ error: { code: publicError.code, message: publicError.message } });
      return;
    }
    res.render('error', { status: publicError.status, message: publicError.message, requestId }, (renderErr, html) => {
      if (renderErr) {
        logger.error({ err: renderErr, requestId }, 'error page failed to render');
        res.type('text/plain').send(`${publicError.status}: ${escapeHtml(publicError.message)}`);
        return;
      }
      res.type('html').send(html);
    });
  };
}
