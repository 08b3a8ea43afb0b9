import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { StorageUnavailable } from '../storage/storage.js';

/** An error whose message is written for the person who caused it; safe to show. */
export class AppError extends Error {
  /** Extra response headers that belong to this error, e.g. Retry-After. */
  headers: Record<string, string> = {};
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends AppError {
  constructor(message: string, code = 'bad_request') {
    super(400, code, message);
  }
}
export class Unauthorized extends AppError {
  constructor(message = 'Please log in to do that.', code = 'login_required') {
    super(401, code, message);
  }
}
export class Forbidden extends AppError {
  constructor(message: string, code = 'forbidden') {
    super(403, code, message);
  }
}
export class NotFound extends AppError {
  constructor(message = 'Nothing here. The image may have been deleted, or the link is mistyped.', code = 'not_found') {
    super(404, code, message);
  }
}
export class PayloadTooLarge extends AppError {
  constructor(message: string, code = 'payload_too_large') {
    super(413, code, message);
  }
}
export class UnsupportedMediaType extends AppError {
  constructor(message: string, code = 'unsupported_media_type') {
    super(415, code, message);
  }
}
export class Unprocessable extends AppError {
  constructor(message: string, code = 'unprocessable') {
    super(422, code, message);
  }
}
export class TooManyRequests extends AppError {
  constructor(message: string, code = 'too_many_requests') {
    super(429, code, message);
  }
}
export class ServiceUnavailable extends AppError {
  constructor(message: string, code = 'service_unavailable') {
    super(503, code, message);
  }
}

const GENERIC_500 = 'Something went wrong on our side. Please try again; if it keeps happening, tell the site operator.';

const FILE_HEADERS = ['ETag', 'Last-Modified', 'Content-Disposition', 'Content-Range', 'Content-Length', 'Accept-Ranges'];

export function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

/** Turns any thrown value into a status, code and a message safe for the client. */
export function toPublicError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StorageUnavailable) {
    const unavailable = new ServiceUnavailable('Image storage is not answering right now. Please try again in a minute.', 'storage_unavailable');
    unavailable.headers['Retry-After'] = '30';
    return unavailable;
  }
  // body-parser and friends mark client errors with a status; their messages are written for developers.
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError(status, 'bad_request', 'The request could not be understood.');
  }
  return new AppError(500, 'internal_error', GENERIC_500);
}

export const notFoundHandler: RequestHandler = (_req, _res, next) => next(new NotFound());

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The one error pipeline: log unknown errors with the request id, answer in the client's format, never leak internals. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    const publicError = toPublicError(err);
    const requestId = String(res.locals.requestId ?? '');
    // The route pattern, not the path: a path can carry a secret (a delete key, an emailed token).
    if (publicError.status >= 500) logger.error({ err, requestId, method: req.method, route: typeof req.route?.path === 'string' ? req.route.path : '(none)' }, 'request failed');
    if (res.headersSent) {
      next(err); // Express closes the connection; nothing more can be said to the client
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
