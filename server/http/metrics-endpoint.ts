import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { MetricsExposition } from '../metrics/metrics.js';

/** A fixed-length digest of each side, so the comparison takes the same time whatever the lengths. */
const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether an Authorization header carries exactly `Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

async function answer(exposition: MetricsExposition, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await exposition.text();
  res.writeHead(200, { 'Content-Type': exposition.contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(`${text}\n`);
}

/**
 * GET /metrics on the main port, when METRICS_TOKEN is set: `Authorization: Bearer <token>` or 401. Without a token
 * (metrics off, or served only on METRICS_LISTEN) it passes the request on, so /metrics is the usual 404.
 */
export function metricsRoute(exposition: MetricsExposition | null, token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (req.path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD') || !exposition || !token) return next();
    if (!bearerMatches(req.headers.authorization, token)) {
      plain(res, 401, 'A bearer token is required.', { 'WWW-Authenticate': 'Bearer realm="pixbin-metrics"' });
      return;
    }
    answer(exposition, req, res).catch(next);
  };
}

/**
 * METRICS_LISTEN: a separate HTTP server on host:port that serves only GET /metrics (no token: whoever can reach
 * the address may scrape it, so bind it to loopback or a private network). Resolves once it listens; close it with
 * server.close() on shutdown.
 */
export function startMetricsListener(exposition: MetricsExposition, listen: { host: string; port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'Not found. Metrics are at /metrics.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed.', { Allow: 'GET, HEAD' });
    answer(exposition, req, res).catch(() => {
      if (!res.headersSent) plain(res, 500, 'Metrics could not be collected.');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
