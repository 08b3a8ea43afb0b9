import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { NO_METRICS, type BackendErrorKind, type Metrics } from '../../metrics/types.js';

/**
 * Gives each request an id and logs one line when it ends. Deliberately logs no IP address and no raw URL:
 * the route pattern stands in for the path, so secret delete keys never reach the logs. The same pattern labels the
 * request's duration in the metrics (one observation per request; the image front observes its own).
 */
export function requestContext(logger: Logger, metrics: Pick<Metrics, 'httpRequest' | 'backendError'> = NO_METRICS): RequestHandler {
  return (req, res, next) => {
    const requestId = randomUUID();
    const started = process.hrtime.bigint();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    res.on('finish', () => {
      const pattern = (req.route as { path?: unknown } | undefined)?.path;
      // A pattern that is not a string (a RegExp or an array) is never used as a label: only its kind is known.
      const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : pattern === undefined ? '(unmatched)' : '(pattern)';
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      metrics.httpRequest(req.method, route, res.statusCode, ms / 1000);
      // Set by the error pipelines (noteBackendError): a request that failed on storage or the database.
      if (typeof res.locals.backendError === 'string') metrics.backendError(res.locals.backendError as BackendErrorKind);
      logger.debug({ requestId, method: req.method, route, status: res.statusCode, ms }, 'request');
    });
    next();
  };
}
