import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { TestApp } from './test-app.js';

export type ReceivedDelivery = { headers: IncomingHttpHeaders; body: string; verified: boolean };

/**
 * A loopback webhook receiver that checks every delivery with the standardwebhooks package under `state.secret`
 * (set it once the secret is known): it answers `status` with a short text when the signature verifies, 401 when not.
 */
export async function verifyingReceiver(status = 200) {
  const state = { secret: '', got: [] as ReceivedDelivery[] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(state.secret).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      state.got.push({ headers: req.headers, body, verified });
      res.writeHead(verified ? status : 401, { 'Content-Type': 'text/plain' }).end(verified ? 'verified, thank you' : 'signature did not verify');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { state, url: `http://127.0.0.1:${port}/pixbin-hook`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Waits until none of the endpoint's deliveries is pending and at least `attempts` attempts are logged (the test
 * app's dispatcher sends them); a generous deadline, as other suites share the machine. Returns the deliveries.
 */
export async function settledDeliveries(app: Pick<TestApp, 'db'>, endpointId: string, attempts: number, deadlineMs = 30_000): Promise<Array<Record<string, any>>> {
  const start = Date.now();
  for (;;) {
    const rows = (await app.db('webhook_deliveries').where({ endpoint_id: endpointId })) as Array<Record<string, any>>;
    const made = Number(((await app.db('webhook_attempts').where({ endpoint_id: endpointId }).count({ n: '*' }).first()) as { n: number | string }).n);
    if (rows.length > 0 && rows.every((r) => r.status !== 'pending') && made >= attempts) return rows;
    if (Date.now() - start > deadlineMs) throw new Error(`deliveries of ${endpointId} not settled after ${deadlineMs} ms: ${JSON.stringify(rows.map((r) => r.status))}, ${made} attempts`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
