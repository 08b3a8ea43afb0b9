import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { API_BASE } from '../api/endpoint.js';
import { problemBody } from '../api/problem.js';
import { wantsJson, type PublicError } from '../errors.js';
import { plural, seconds } from '../../lib/burst-log.js';

/**
 * Cuts off request bodies that stop arriving (issue 15, item 1). Without it, a POST that declares 10 MB, sends a
 * few bytes and goes quiet holds its socket, parser and temp file until the server's requestTimeout (10 minutes).
 *
 * The policy, per request body:
 * - idle: no byte for `idleMs` (UPLOAD_IDLE_TIMEOUT_MS, 15 s by default) while Node is reading the socket → 408;
 * - too slow: under MIN_BYTES_PER_SECOND averaged over the last RATE_WINDOWS × idleMs (30 s) → 408. A per-read
 *   timeout alone (nginx's client_body_timeout) lets a client drip one byte every 14 s for the full 10 minutes;
 *   Apache's mod_reqtimeout adds a minimum rate for that reason. 1 kB/s (8 kbit/s) is below any real mobile link,
 *   and far below the 42 kB/s that requestTimeout already asks of a 25 MB upload, so it only stops drippers.
 * Time counts only while Node is reading the socket: while Pixbin itself holds the body back (a database check
 * before the form is read, the bot check, a slow disk) the client cannot send, and is not blamed for it. An
 * event-loop stall is not counted either (each tick counts at most two tick lengths).
 *
 * The answer is 408 with Connection: close in the client's format (problem+json under the API, JSON, or the
 * error page); then the socket is closed, which makes multer remove the partial temp file. If the answer has
 * already begun (a 413 while the rest of the body drains), the socket is simply closed.
 */

export const DEFAULT_IDLE_MS = 15_000;
export const MIN_BYTES_PER_SECOND = 1024;
/** The rate is averaged over this many idle windows (30 s by default), so one pause within it is forgiven. */
export const RATE_WINDOWS = 2;
/** How long the 408 may take to be handed to the kernel before the socket is closed anyway. */
const ANSWER_FLUSH_MS = 2000;

const CODE = 'request_timeout';

const messages = {
  stalled: (what: string, idleMs: number) => `${what} stopped: nothing arrived for ${secondsText(idleMs)}. Check the connection and send it again.`,
  tooSlow: (what: string, windowMs: number) =>
    `${what} arrived too slowly (under ${MIN_BYTES_PER_SECOND / 1024} kB a second for ${secondsText(windowMs)}). Check the connection and send it again.`,
};

/** What the person was sending, in their words. */
function whatWasSent(req: Request): string {
  if (req.is('multipart/form-data')) return 'The upload';
  if (req.is('application/x-www-form-urlencoded')) return 'The form';
  return 'The request';
}

const secondsText = (ms: number): string => plural(seconds(ms), 'second', 'seconds');

type Cause = 'stalled' | 'too_slow';

const watched = new WeakSet<Request>();

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > 0;
}

/** Answers 408 in the format the client expects; the connection closes after it. */
function answer(req: Request, res: Response, publicUrl: string, message: string): void {
  const requestId = String(res.locals.requestId ?? '');
  res.status(408).set({ Connection: 'close', 'Cache-Control': 'no-store' });
  if (req.path === API_BASE || req.path.startsWith(`${API_BASE}/`)) {
    const error: PublicError = { status: 408, code: CODE, message, headers: {} };
    res.type('application/problem+json').send(JSON.stringify(problemBody(publicUrl, error, requestId)));
    return;
  }
  if (wantsJson(req)) {
    res.json({ error: { code: CODE, message } });
    return;
  }
  res.render('error', { status: 408, message, requestId }, (err, html) => {
    if (err) res.type('text/plain').send(`408: ${message}`);
    else res.type('html').send(html);
  });
}

/**
 * Watches every request that has a body, from here until the body is complete. Mount it early (app.ts), before
 * anything reads a body; requests without one pass at no cost.
 */
export function bodyStallGuard(config: { publicUrl: string; uploadIdleTimeoutMs?: number }, logger: Logger): RequestHandler {
  const idleMs = config.uploadIdleTimeoutMs ?? DEFAULT_IDLE_MS;
  const windowMs = idleMs * RATE_WINDOWS;
  const minWindowBytes = (MIN_BYTES_PER_SECOND * windowMs) / 1000;
  // Checked ten times per window (at most every half second): a cut comes at most one tick after the window.
  const tickMs = Math.max(25, Math.min(500, Math.floor(idleMs / 10)));

  return (req, res, next) => {
    if (watched.has(req) || req.complete || !hasBody(req)) {
      next();
      return;
    }
    watched.add(req);
    const socket = req.socket;
    const startedAt = performance.now();
    let lastBytes = socket.bytesRead;
    let lastTick = startedAt;
    let idle = 0;
    // Bytes per tick over the last windowMs of time spent reading the socket.
    const samples: Array<{ ms: number; bytes: number }> = [];
    let sampledMs = 0;
    let sampledBytes = 0;

    const stop = () => {
      clearInterval(timer);
      req.off('end', stop);
      req.off('close', stop);
    };

    const cut = (cause: Cause) => {
      stop();
      const message = cause === 'stalled' ? messages.stalled(whatWasSent(req), idleMs) : messages.tooSlow(whatWasSent(req), windowMs);
      logger.info(
        { requestId: res.locals.requestId, method: req.method, cause, declaredBytes: req.headers['content-length'] ?? null, ms: Math.round(performance.now() - startedAt), answered: !res.headersSent },
        cause === 'stalled' ? 'request body stalled: answered 408 and closed the connection' : 'request body too slow: answered 408 and closed the connection',
      );
      // Destroying the request (not only the socket) tells whoever reads the body, multer included, that it ended
      // short, so the partial temp file goes: once the answer is out, Node no longer aborts the request itself.
      const close = () => {
        req.destroy();
        socket.destroy();
      };
      if (res.headersSent) {
        close();
        return;
      }
      // A client that no longer reads may never take the answer: close the socket after trying.
      const fallback = setTimeout(close, ANSWER_FLUSH_MS);
      fallback.unref();
      res.once('finish', () => {
        clearTimeout(fallback);
        close();
      });
      res.once('close', () => clearTimeout(fallback));
      answer(req, res, config.publicUrl, message);
    };

    const timer = setInterval(() => {
      if (req.complete || socket.destroyed) {
        stop();
        return;
      }
      const now = performance.now();
      const ms = Math.min(now - lastTick, 2 * tickMs);
      lastTick = now;
      const bytes = socket.bytesRead - lastBytes;
      lastBytes += bytes;
      sampledBytes += bytes;
      // Paused: Pixbin is holding the body back (its buffer is full), so the client could not send. The time is
      // not the client's; the bytes that came before the pause still count towards its rate.
      if (socket.isPaused()) {
        idle = 0;
        if (samples.length) samples[samples.length - 1]!.bytes += bytes;
        else samples.push({ ms: 0, bytes });
        return;
      }
      idle = bytes > 0 ? 0 : idle + ms;
      samples.push({ ms, bytes });
      sampledMs += ms;
      while (samples.length > 1 && sampledMs - samples[0]!.ms >= windowMs) {
        const old = samples.shift()!;
        sampledMs -= old.ms;
        sampledBytes -= old.bytes;
      }
      if (idle >= idleMs) cut('stalled');
      else if (sampledMs >= windowMs && sampledBytes < minWindowBytes) cut('too_slow');
    }, tickMs);
    timer.unref();
    req.once('end', stop);
    req.once('close', stop);
    next();
  };
}
