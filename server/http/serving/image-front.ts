import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fresh from 'fresh';
import type { Logger } from 'pino';
import { isImageId } from '../../lib/ids.js';
import { isServableTo } from '../../services/images.service.js';
import { IMAGE_RESPONSE_HEADERS } from '../middleware/security-headers.middleware.js';
import { storedFileHeaders, type StoredFile } from '../serve-stored-file.js';
import type { VariantBytesCache } from './bytes-cache.js';
import type { ServedImageCache } from './image-cache.js';
import { VARIANTS, type ServedImage, type Variant } from './variants.js';
import { secondsSince, type Metrics, type ServedVariant } from '../../metrics/types.js';

/** A request the front does not answer goes on to Express (the fast router, then the full stack) untouched. */
export type Fallback = () => void;
export type ImageFront = (req: IncomingMessage, res: ServerResponse, fallback: Fallback) => void;

export type ImageFrontDeps = {
  rows: ServedImageCache;
  bytes: VariantBytesCache;
  /** The page middleware's headers, computed once (see fixedHeadersOf); the image headers replace its CSP. */
  fixedHeaders: ReadonlyArray<readonly [string, string]>;
  /** The signed-in user's id, for a private image only (null: none, or a dead session, which the full stack clears). */
  viewerOf: (req: IncomingMessage) => Promise<string | null>;
  logger: Logger;
  /** One observation per answered request (its route pattern), the bytes it sent, and its one row-cache lookup. */
  metrics: Pick<Metrics, 'httpRequest' | 'bytesServed' | 'cacheLookup'>;
  /** Notes that this request's row lookup is counted, so the router does not count it again if it takes over. */
  counted: (req: IncomingMessage) => void;
  /** Records what the front failed with, so the full stack answers with it instead of asking again. */
  failed: (req: IncomingMessage, err: unknown) => void;
};

/** `/i/<id>.<ext>`, `/t/<id>.webp`, `/d/<id>.webp`, with or without a query string (which, as in Express, is ignored). */
const IMAGE_URL = /^\/([a-z])\/([A-Za-z0-9]{1,64})\.([A-Za-z0-9]{1,10})(?:\?.*)?$/;

/** The variant served at each one-letter prefix, taken from VARIANTS so a new variant needs no change here. */
const BY_PREFIX = new Map<string, { variant: Variant; route: string; name: ServedVariant }>(
  Object.entries(VARIANTS).map(([name, variant]) => [variant.path[1]!, { variant, route: variant.path, name: name as ServedVariant }]),
);

/**
 * The headers every answer for one variant of one row carries, built once per row object: a change to the image
 * replaces the cached row, so the entry goes with it.
 */
function headerCache(fixed: ReadonlyArray<readonly [string, string]>) {
  const replaced = new Set(Object.keys(IMAGE_RESPONSE_HEADERS).map((n) => n.toLowerCase()));
  const base = fixed.filter(([name]) => !replaced.has(name)).flat();
  const built = new WeakMap<ServedImage, Map<Variant, { file: StoredFile; etag: string; lastModified: string; headers: string[] }>>();
  return (image: ServedImage, variant: Variant) => {
    let forRow = built.get(image);
    if (!forRow) built.set(image, (forRow = new Map()));
    let entry = forRow.get(variant);
    if (!entry) {
      const file = variant.file(image);
      const { etag, lastModified, headers } = storedFileHeaders(file);
      entry = { file, etag, lastModified, headers: [...base, ...Object.entries(headers).flat()] };
      forRow.set(variant, entry);
    }
    return entry;
  };
}

/**
 * The image front: answers the common image request on Node's own request and response, before Express is
 * entered at all (no router walk, no prototype switch, no middleware). It takes a GET or HEAD of a variant URL whose
 * row the caller may see and whose bytes are in memory, and answers 200 or 304 with exactly the headers the fast
 * router sends. Everything else (a range, a miss in the bytes cache, a redirect or offload mode, anything not
 * servable, any failure) falls back to Express before a byte is written, and is answered as it always was.
 */
export function imageFront(deps: ImageFrontDeps): ImageFront {
  const headersOf = headerCache(deps.fixedHeaders);

  /** Answers from memory, or returns false (nothing written) when the bytes are not held. */
  const answer = (req: IncomingMessage, res: ServerResponse, image: ServedImage, variant: Variant, route: string, name: ServedVariant, started: bigint): boolean => {
    const { file, etag, lastModified, headers } = headersOf(image, variant);
    const notModified = fresh(req.headers, { etag, 'last-modified': lastModified });
    const bytes = notModified ? undefined : deps.bytes.peek(file);
    if (!notModified && !bytes) return false;
    const requestId = randomUUID();
    if (deps.logger.isLevelEnabled('debug')) {
      res.on('finish', () => {
        deps.logger.debug({ requestId, method: req.method, route, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
      });
    }
    if (!bytes) {
      res.writeHead(304, ['X-Request-Id', requestId, ...headers]);
      res.end();
    } else {
      res.writeHead(200, ['X-Request-Id', requestId, ...headers, 'Content-Length', String(bytes.length)]);
      if (req.method === 'HEAD') res.end();
      else {
        res.end(bytes);
        deps.metrics.bytesServed(name, bytes.length);
      }
    }
    deps.metrics.httpRequest(req.method!, route, res.statusCode, secondsSince(started));
    return true;
  };

  /**
   * Decides on a row read when the change count stood at `since`: a change heard meanwhile (the row was read, or
   * the session looked up, before a deletion or a switch to private) sends the request on, to be looked up afresh.
   */
  const answered = (req: IncomingMessage, res: ServerResponse, image: ServedImage, served: { variant: Variant; route: string; name: ServedVariant }, since: number, started: bigint): boolean =>
    deps.rows.epoch === since && answer(req, res, image, served.variant, served.route, served.name, started);

  return (req, res, fallback) => {
    // A request with a body (allowed on a GET, and never needed) goes to Express, whose stall guard watches bodies.
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.headers.range || hasBody) return fallback();
    const match = IMAGE_URL.exec(req.url ?? '');
    const served = match && BY_PREFIX.get(match[1]!);
    if (!served || !isImageId(match[2]!)) return fallback();
    const started = process.hrtime.bigint();
    const [, , id, ext] = match as unknown as [string, string, string, string];
    const { variant } = served;
    const since = deps.rows.epoch;
    const held = deps.rows.peek(id);
    // One row-cache lookup per request, whoever answers it: a miss here is loaded below or by the router, uncounted.
    deps.metrics.cacheLookup('rows', held !== undefined);
    deps.counted(req);
    if (held && held.visibility !== 'private') {
      // The common case, answered without a promise: a held row that needs no session.
      let done = false;
      try {
        done = variant.accepts(held, ext) && isServableTo(held, null) && answered(req, res, held, served, since, started);
      } catch (err) {
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        deps.failed(req, err);
      }
      return done ? undefined : fallback();
    }
    void (async () => {
      let done = false;
      try {
        const image = held ?? (await deps.rows.find(id, false));
        if (image && variant.accepts(image, ext)) {
          const viewer = image.visibility === 'private' ? await deps.viewerOf(req) : null;
          done = isServableTo(image, viewer) && answered(req, res, image, served, since, started);
        }
      } catch (err) {
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        deps.failed(req, err);
      }
      if (!done) fallback();
    })();
  };
}
