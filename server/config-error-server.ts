import { createServer } from 'node:http';
import type { OnConfigError } from './config/on-error.js';

/** Exits 78, or (in the container) waits: every request gets 503 and the one-line reason, until SIGTERM. */
export function failStartup(message: string, on: OnConfigError): void {
  if (on.mode === 'exit') process.exit(78); // EX_CONFIG
  const body = JSON.stringify({ status: 'misconfigured', error: { code: 'misconfigured', message } });
  const server = createServer((_req, res) => {
    res.writeHead(503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(body);
  });
  server.listen(on.port, on.host);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
