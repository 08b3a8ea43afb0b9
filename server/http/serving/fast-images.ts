import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { Router } from 'express';
import { parse as parseCookies } from 'cookie';
import { NotFound } from '../../errors.js';
import { isImageId } from '../../lib/ids.js';
import { isServableTo } from '../../services/images.service.js';
import { resumeSessionCached } from '../../services/sessions.service.js';
import { cookieNames } from '../auth-context.js';
import { cspNonce } from '../middleware/security-headers.middleware.js';
import type { RouteDeps } from '../route-deps.js';
import { VariantBytesCache } from './bytes-cache.js';
import { deliveryOrigin } from '../delivery.js';
import { imageFront, type ImageFront } from './image-front.js';
import { variantSender } from './send-variant.js';
import { VARIANTS, type Variant } from './variants.js';
import type { ServedVariant } from '../../metrics/types.js';

export type ImageServingDeps = Pick<RouteDeps, 'config' | 'storage' | 'sessions' | 'sessionLookups' | 'logger' | 'servedImages' | 'metrics'> & {
  /** The page headers middleware (helmet) that every other response passes through. */
  pageHeaders: RequestHandler;
};

const noop = () => undefined;

const failures = new WeakMap<IncomingMessage, unknown>();
/** Requests whose row-cache lookup the front already counted (the router then looks up without counting). */
const rowLookupCounted = new WeakSet<IncomingMessage>();
/** Whose session each request's cookie names, resolved once per request (the front and the router share it). */
const viewers = new WeakMap<IncomingMessage, Promise<string | null>>();

/**
 * What the fast path failed with (the store or the database not answering), for the full-stack route to answer
 * with instead of asking again: a stalled store would otherwise cost a request its timeout twice.
 */
export const servingFailureOf = (req: IncomingMessage): unknown => failures.get(req);

/**
 * The headers the page middleware gives every response, computed once: none depends on the request but the CSP
 * nonce, and image responses replace the CSP with their own sandbox.
 */
function fixedHeadersOf(pageHeaders: RequestHandler): Array<[string, string]> {
  const headers = new Map<string, string>();
  const res = {
    locals: { cspNonce: '' },
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
    getHeader: (name: string) => headers.get(name.toLowerCase()),
  };
  let called = false;
  pageHeaders({ headers: {} } as Request, res as unknown as Response, () => (called = true));
  if (!called) throw new Error('the page headers middleware must answer synchronously');
  headers.delete('content-security-policy');
  return [...headers];
}

/**
 * Image serving in two layers that share one row cache and one bytes cache:
 * - `front`, on Node's own request before Express is entered, answers the common case from memory (imageFront);
 * - `router`, the first Express middleware, answers the rest of `/i/<id>.<ext>`, `/t/<id>.webp` and any other variant
 *   in VARIANTS before the page middleware, cookies, sessions and body parsers: bytes not yet in memory, ranges,
 *   HEAD from storage, redirects to the bucket.
 * In both, rows come from a coherent in-memory cache, the cookie is read and the session looked up only for a private
 * image, and a matching ETag is a 304 before storage is touched. Every other case (malformed id, wrong extension,
 * not found, not the caller's, hidden, missing bytes, any failure) goes on to the full stack, so it is answered
 * exactly as it always was.
 */
export function imageServing(deps: ImageServingDeps): { front: ImageFront; router: Router } {
  const router = Router();
  const rows = deps.servedImages;
  const bytes = new VariantBytesCache(undefined, deps.metrics);
  rows.onDrop((change) => bytes.drop(change));
  const send = variantSender(deps.config, deps.storage);
  const fixedHeaders = fixedHeadersOf(deps.pageHeaders);
  const sessionCookie = cookieNames(deps.config.https).session;

  /**
   * The user id behind the session cookie, asked for a private image only; null for none or a dead one (a private
   * image is then not served here, and the full stack answers and clears the cookie). The lookup is cached for at
   * most a second (session-lookup-cache.ts), so a page of private thumbnails costs one.
   */
  const viewerOf = (req: IncomingMessage): Promise<string | null> => {
    let viewer = viewers.get(req);
    if (!viewer) {
      const value = req.headers.cookie ? parseCookies(req.headers.cookie)[sessionCookie] : undefined;
      viewer = value ? resumeSessionCached(deps.sessions, deps.sessionLookups, value).then((found) => found?.userId ?? null) : Promise.resolve(null);
      viewers.set(req, viewer);
    }
    return viewer;
  };

  const headers = (req: Request, res: Response) => (kind: 'redirect' | 'bytes') => {
    if (kind === 'bytes') {
      for (const [name, value] of fixedHeaders) res.setHeader(name, value);
      return;
    }
    // A redirect is rare here (S3 serve modes): it gets the page headers exactly as the full stack gives them.
    cspNonce(req, res, noop);
    deps.pageHeaders(req, res, noop);
  };

  const serve = (name: ServedVariant, variant: Variant): RequestHandler => {
    return async (req, res, next) => {
      // The front already failed asking the database or the store: the full stack answers with that, not asking twice.
      if (servingFailureOf(req)) return next();
      const { id, ext } = req.params as { id: string; ext: string };
      const before = new Set(res.getHeaderNames());
      try {
        const since = rows.epoch;
        const image = isImageId(id) ? await rows.find(id, !rowLookupCounted.has(req)) : null;
        if (!image || !variant.accepts(image, ext)) return next();
        const viewer = image.visibility === 'private' ? await viewerOf(req) : null;
        // A change heard since the row was read (a deletion, a switch to private) sends it to the full stack, which reads afresh.
        if (rows.epoch !== since || !isServableTo(image, viewer)) return next();
        await send(req, res, image.visibility, variant.file(image), { held: bytes.of(image.id), headers: headers(req, res) });
        if (req.method === 'GET' && (res.statusCode === 200 || res.statusCode === 206)) deps.metrics.bytesServed(name, Number(res.getHeader('Content-Length') ?? 0));
      } catch (err) {
        if (res.headersSent) throw err;
        // The full stack answers it (its error page needs the page middleware): missing bytes are looked up again
        // there, and any other failure is handed over as it is.
        for (const name of res.getHeaderNames()) if (!before.has(name)) res.removeHeader(name);
        res.status(200);
        if (!(err instanceof NotFound)) failures.set(req, err);
        next();
      }
    };
  };

  for (const [name, variant] of Object.entries(VARIANTS)) router.get(variant.path, serve(name as ServedVariant, variant));

  // Redirect and offload modes answer with no bytes from memory: the front leaves every request to the router.
  const front: ImageFront =
    deliveryOrigin(deps.config) === undefined && !deps.config.proxyOffload
      ? imageFront({ rows, bytes, fixedHeaders, viewerOf, logger: deps.logger, metrics: deps.metrics, counted: (req) => rowLookupCounted.add(req), failed: (req, err) => failures.set(req, err) })
      : (_req, _res, fallback) => fallback();
  return { front, router };
}
