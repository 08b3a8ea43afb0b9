import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { createDb, type Db } from '../../db/knex.js';
import { createRepos, type Repos } from '../../db/repos.js';
import type { WebhookDelivery } from '../../db/webhooks.repo.js';
import { randomBase62 } from '../../lib/ids.js';
import { NO_METRICS, type Metrics, type WebhookOutcome } from '../../metrics/types.js';
import { createOutbound } from '../../outbound/outbound.js';
import { createMailer } from '../../services/mailer.service.js';
import {
  createWebhookDispatcher,
  EXCERPT_BYTES,
  LEASE_MS,
  MAX_ATTEMPTS,
  RETRY_DELAYS_MS,
  SEND_TIMEOUTS,
  USER_AGENT,
  type WebhookDispatcher,
  type WebhookDispatcherDeps,
} from '../../services/webhook-dispatcher.js';
import { newMessageId, webhookBody } from '../../services/webhook-events.js';
import { newWebhookSecret } from '../../services/webhook-signing.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { until } from '../helpers/assertions.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { testDatabase, testDialect } from '../helpers/test-db.js';
import { killAllChildren, spawnTs } from '../helpers/child-process.js';

const SECOND = 1000;
const HOUR = 3_600_000;

type Received = { path: string; headers: Record<string, string>; body: string };
type Receiver = {
  url: string;
  requests: Received[];
  /** How to answer the next request (default: 200 "ok"). */
  answer: (req: IncomingMessage, res: ServerResponse, body: string) => void;
  close: () => Promise<void>;
};

/** A real HTTP server on loopback that keeps every request it gets, answering as the test says. */
async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  const sockets = new Set<Socket>();
  const receiver: Receiver = {
    url: '',
    requests,
    answer: (_req, res) => res.end('ok'),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ path: req.url ?? '', headers: req.headers as Record<string, string>, body });
      receiver.answer(req, res, body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/**
 * Checks a request's signature with standardwebhooks for any timestamp: verify() also insists the timestamp is
 * within 5 minutes of the real time, which a test's controlled clock is not; sign() with the request's own
 * timestamp must give one of the signatures sent.
 */
function signedBy(secret: string, r: Received): boolean {
  const sent = r.headers['webhook-signature']!.split(' ');
  return sent.includes(new Webhook(secret).sign(r.headers['webhook-id']!, new Date(Number(r.headers['webhook-timestamp']) * 1000), r.body));
}

const countingMetrics = () => {
  const counts: Record<WebhookOutcome, number> = { delivered: 0, retrying: 0, failed: 0 };
  const metrics: Metrics = { ...NO_METRICS, webhookDelivery: (outcome) => void (counts[outcome] += 1) };
  return { counts, metrics };
};

const logsInto = (lines: Array<Record<string, unknown>>): Logger =>
  pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
  );

describe('webhook delivery: the dispatcher sends the outbox, signed, with retries, once across replicas', function () {
  this.timeout(60_000);
  let app: TestApp;
  let repos: Repos;
  let receiver: Receiver;
  let smtp: TestSmtp;
  let owner: TestUser;
  let now: Date;
  const clock = () => now;
  const dispatchers: WebhookDispatcher[] = [];
  const extraDbs: Db[] = [];

  beforeEach(async () => {
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1' });
    repos = createRepos(app.db);
    receiver = await startReceiver();
    smtp = await startSmtp();
    owner = await signedInUser(app);
    now = new Date('2031-03-10T12:00:00Z');
  });
  afterEach(async () => {
    killAllChildren();
    for (const d of dispatchers.splice(0)) await d.stop();
    await receiver.close();
    await smtp.close();
    await app.close();
    for (const db of extraDbs.splice(0)) await db.destroy();
  });

  /** A dispatcher on the test's clock, outbound allowed to loopback, mail through the test SMTP server. */
  function dispatcher(overrides: Partial<WebhookDispatcherDeps> = {}): WebhookDispatcher {
    const logger = overrides.logger ?? pino({ level: 'silent' });
    const d = createWebhookDispatcher({
      repos,
      outbound: createOutbound({ allow: ['127.0.0.1'] }),
      clock,
      logger,
      metrics: NO_METRICS,
      mailer: createMailer({ smtpUrl: smtp.url, from: 'pixbin@example.test', logger }),
      publicUrl: app.url,
      ...overrides,
    });
    dispatchers.push(d);
    return d;
  }

  async function endpoint(options: { url?: string; ownerId?: string | null; secret?: string } = {}): Promise<{ id: string; secret: string }> {
    const id = `ep_${randomBase62(20)}`;
    const secret = options.secret ?? newWebhookSecret();
    await repos.webhooks.insertEndpoint({ id, ownerId: options.ownerId === undefined ? owner.id : options.ownerId, url: options.url ?? `${receiver.url}/hook`, description: null, events: ['image.uploaded'], secret, createdAt: now });
    return { id, secret };
  }

  /** Records `n` deliveries for an endpoint, due at `at` (now by default); returns their ids. */
  async function queue(endpointId: string, n = 1, at = now): Promise<string[]> {
    const deliveries = Array.from({ length: n }, (_, i) => ({ id: newMessageId(), endpointId, eventType: 'image.uploaded', payload: webhookBody('image.uploaded', at, { id: `img${i}` }), createdAt: at }));
    await repos.webhooks.insertDeliveries(deliveries);
    return deliveries.map((d) => d.id);
  }

  const delivery = async (id: string): Promise<WebhookDelivery> => (await repos.webhooks.findDelivery(id))!;

  it('delivers to a loopback receiver that verifies every request with standardwebhooks (the test app’s own dispatcher, on the real clock)', async () => {
    expect(app.webhooks, 'no dispatcher unless asked for').to.equal(null);
    await app.close();
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1' }, { webhooks: true });
    repos = createRepos(app.db);
    owner = await signedInUser(app);
    now = new Date();
    const verified: unknown[] = [];
    const { id: endpointId, secret } = await endpoint();
    receiver.answer = (_req, res, body) => {
      const r = receiver.requests.at(-1)!;
      try {
        verified.push(new Webhook(secret).verify(body, r.headers));
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end('bad signature');
      }
    };
    const ids = await queue(endpointId, 3);
    await until(async () => (await Promise.all(ids.map(delivery))).every((d) => d.status === 'delivered'), 'three deliveries delivered', 10_000);
    expect(receiver.requests.map((r) => r.headers['webhook-id']).sort()).to.deep.equal([...ids].sort());
    expect(verified).to.have.length(3);
    for (const r of receiver.requests) {
      expect(r.path).to.equal('/hook');
      expect(r.headers['content-type']).to.equal('application/json');
      expect(r.headers['user-agent']).to.equal(USER_AGENT);
      // Nothing that names the instance or a person beyond the signed headers and the body.
      expect(Object.keys(r.headers).sort()).to.deep.equal(['connection', 'content-length', 'content-type', 'host', 'user-agent', 'webhook-id', 'webhook-signature', 'webhook-timestamp']);
      expect(JSON.parse(r.body)).to.deep.include({ type: 'image.uploaded' });
    }
    const attempts = await repos.webhooks.listAttempts(ids[0]!);
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ outcome: 'delivered', responseCode: 204, responseExcerpt: null, error: null });
    expect((await delivery(ids[0]!)).attempts).to.equal(1);
    expect((await delivery(ids[0]!)).finishedAt).to.be.an.instanceOf(Date);
    expect((await repos.webhooks.findEndpoint(endpointId))!.failingSince).to.equal(null);
    expect(app.logs.filter((l) => Number(l.level) >= 50), 'no error logged').to.deep.equal([]);
  });

  it('retries a receiver that keeps answering 500 on the schedule, then fails the delivery, switches the endpoint off and emails its owner', async () => {
    const { counts, metrics } = countingMetrics();
    const d = dispatcher({ metrics });
    const { id: endpointId, secret } = await endpoint({ url: `${receiver.url}/hooks/s3cr3t-token-in-path` });
    receiver.answer = (_req, res) => res.writeHead(500).end('down for maintenance');
    const [id] = await queue(endpointId);
    const start = now.getTime();
    const expectedTimes = [start];
    for (const delay of RETRY_DELAYS_MS) expectedTimes.push(expectedTimes.at(-1)! + delay);
    expect(expectedTimes).to.have.length(MAX_ATTEMPTS);
    expect(MAX_ATTEMPTS).to.equal(9);
    expect(RETRY_DELAYS_MS).to.deep.equal([5 * SECOND, 5 * 60 * SECOND, 30 * 60 * SECOND, 2 * HOUR, 5 * HOUR, 10 * HOUR, 24 * HOUR, 24 * HOUR]);

    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      // A moment before it is due, nothing goes out.
      now = new Date(expectedTimes[i]! - 1);
      expect(await d.runOnce(), `attempt ${i + 1} not before its time`).to.equal(0);
      now = new Date(expectedTimes[i]!);
      if (i === MAX_ATTEMPTS - 1) await queue(endpointId, 1, new Date(now.getTime() + HOUR)); // waiting when the endpoint goes off
      expect(await d.runOnce(), `attempt ${i + 1}`).to.equal(1);
      const row = await delivery(id!);
      expect(row.attempts).to.equal(i + 1);
      if (i < MAX_ATTEMPTS - 1) {
        expect(row).to.include({ status: 'pending', lastResponseCode: 500, finishedAt: null, lockedUntil: null });
        expect(row.nextAttemptAt!.getTime()).to.equal(expectedTimes[i + 1]);
      }
    }
    expect(receiver.requests).to.have.length(MAX_ATTEMPTS);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).to.deep.equal(new Set([id]));
    expect(receiver.requests.map((r) => Number(r.headers['webhook-timestamp']) * 1000)).to.deep.equal(expectedTimes);
    for (const r of receiver.requests) expect(signedBy(secret, r), 'signed').to.equal(true);

    const finished = await delivery(id!);
    expect(finished).to.include({ status: 'failed', attempts: MAX_ATTEMPTS, nextAttemptAt: null });
    expect(finished.finishedAt!.getTime()).to.equal(expectedTimes.at(-1));
    const attempts = await repos.webhooks.listAttempts(id!);
    expect(attempts.map((a) => a.attemptedAt.getTime())).to.deep.equal(expectedTimes);
    expect(attempts.every((a) => a.outcome === 'failed' && a.responseCode === 500 && a.responseExcerpt === 'down for maintenance')).to.equal(true);
    const ep = (await repos.webhooks.findEndpoint(endpointId))!;
    expect(ep).to.include({ enabled: false, disabledReason: 'failing' });
    expect(ep.failingSince!.getTime(), 'failing since the first failure').to.equal(start);
    expect(ep.disabledAt!.getTime()).to.equal(expectedTimes.at(-1));
    const waiting = (await repos.webhooks.listDeliveries(endpointId, { before: null, limit: 10 })).filter((x) => x.id !== id);
    expect(waiting.map((x) => x.status), 'the other pending delivery ended with the endpoint').to.deep.equal(['failed']);
    expect(counts).to.deep.equal({ delivered: 0, retrying: MAX_ATTEMPTS - 1, failed: 1 });

    const mail = await smtp.waitFor(owner.email, /stopped sending webhooks/);
    expect(mail.text).to.include(`127.0.0.1:${new URL(receiver.url).port}`).and.include(`failed ${MAX_ATTEMPTS} times`).and.include(`${app.url}/account/webhooks/${endpointId}`);
    expect(mail.text, 'the URL’s path (it may hold a token) stays out of the mail').not.to.include('s3cr3t');
    // Off means off: nothing more is claimed, even when due.
    now = new Date(now.getTime() + 7 * 24 * HOUR);
    expect(await d.runOnce()).to.equal(0);
  });

  it('nudge() looks at once instead of waiting for the next poll; a loop never overlaps itself', async () => {
    const lines: Array<Record<string, unknown>> = [];
    let passes = 0;
    let overlapping = 0;
    let running = 0;
    // Every look for due deliveries starts with a plain read (anyDue); a claim transaction follows only when one is due.
    const counted: Repos = {
      ...repos,
      webhooks: {
        ...repos.webhooks,
        anyDue: async (at) => {
          passes += 1;
          running += 1;
          overlapping = Math.max(overlapping, running);
          try {
            return await repos.webhooks.anyDue(at);
          } finally {
            running -= 1;
          }
        },
      },
    };
    const d = dispatcher({ pollMs: 60_000, repos: counted, logger: logsInto(lines) });
    const { id: endpointId } = await endpoint();
    now = new Date();
    d.start();
    await until(() => passes >= 1, 'the first pass');
    const [id] = await queue(endpointId);
    for (let i = 0; i < 5; i++) d.nudge(); // several at once: one pass now, at most one more after it
    await until(async () => (await delivery(id!)).status === 'delivered', 'delivered after the nudge (the next poll is a minute away)');
    expect(overlapping, 'looks never overlap').to.equal(1);
    expect(lines.filter((l) => Number(l.level) >= 50)).to.deep.equal([]);
  });

  it('a success clears failing_since; the first failure sets it and later ones keep it', async () => {
    const d = dispatcher();
    const { id: endpointId } = await endpoint();
    let status = 502;
    receiver.answer = (_req, res) => res.writeHead(status).end();
    const [id] = await queue(endpointId);
    await d.runOnce();
    const first = now.getTime();
    expect((await repos.webhooks.findEndpoint(endpointId))!.failingSince!.getTime()).to.equal(first);
    now = new Date(first + 5 * SECOND);
    await d.runOnce();
    expect((await repos.webhooks.findEndpoint(endpointId))!.failingSince!.getTime()).to.equal(first);
    status = 200;
    now = new Date(first + 5 * SECOND + 5 * 60 * SECOND);
    expect(await d.runOnce()).to.equal(1);
    expect((await delivery(id!)).status).to.equal('delivered');
    expect((await repos.webhooks.findEndpoint(endpointId))!.failingSince).to.equal(null);
  });

  it('honours Retry-After in seconds and as an HTTP date, never sooner than the schedule and never later than 24 h', async () => {
    const d = dispatcher();
    const { id: endpointId } = await endpoint();
    let retryAfter = '';
    receiver.answer = (_req, res) => res.writeHead(503, { 'Retry-After': retryAfter }).end();
    const [id] = await queue(endpointId);
    const step = async (value: string, expectedDelay: number) => {
      retryAfter = value;
      expect(await d.runOnce(), value).to.equal(1);
      const row = await delivery(id!);
      expect(row.nextAttemptAt!.getTime() - now.getTime(), `Retry-After: ${value}`).to.equal(expectedDelay);
      now = row.nextAttemptAt!;
    };
    await step('120', 120 * SECOND); // later than the schedule's 5 s
    await step('1', 5 * 60 * SECOND); // sooner than the schedule's 5 min: the schedule wins
    await step(new Date(now.getTime() + 2.5 * HOUR).toUTCString(), 2.5 * HOUR); // an HTTP date, later than 30 min
    await step('172800', 24 * HOUR); // two days: cut to 24 h
    await step('not a number', 5 * HOUR); // unreadable: the schedule
    expect(receiver.requests).to.have.length(5);
  });

  it('a 410 switches the endpoint off at once, ends its pending deliveries and emails the owner; an instance endpoint’s admins are emailed', async () => {
    const { counts, metrics } = countingMetrics();
    const d = dispatcher({ metrics });
    const { id: endpointId } = await endpoint();
    receiver.answer = (_req, res) => res.writeHead(410).end('gone for good');
    const [id] = await queue(endpointId);
    const [later] = await queue(endpointId, 1, new Date(now.getTime() + HOUR));
    expect(await d.runOnce()).to.equal(1);
    expect(await delivery(id!)).to.include({ status: 'failed', attempts: 1, lastResponseCode: 410, nextAttemptAt: null });
    expect((await repos.webhooks.listAttempts(id!))[0]).to.include({ outcome: 'gone', responseCode: 410, responseExcerpt: 'gone for good' });
    expect(await delivery(later!)).to.include({ status: 'failed' });
    expect(await repos.webhooks.findEndpoint(endpointId)).to.include({ enabled: false, disabledReason: 'gone' });
    expect(counts).to.deep.equal({ delivered: 0, retrying: 0, failed: 1 });
    const mail = await smtp.waitFor(owner.email, /stopped sending webhooks/);
    expect(mail.text).to.include('410 Gone');

    // The instance's endpoint: every active admin is told, and nobody else.
    const admin = await signedInUser(app);
    await app.db('users').where({ id: admin.id }).update({ role: 'admin' });
    const { id: instanceEndpoint } = await endpoint({ ownerId: null });
    await queue(instanceEndpoint);
    expect(await d.runOnce()).to.equal(1);
    const adminMail = await smtp.waitFor(admin.email, /stopped sending webhooks/);
    expect(adminMail.text).to.include(`${app.url}/admin/webhooks/${instanceEndpoint}`);
    await smtp.idle();
    expect(smtp.messages.filter((m) => m.to.includes(owner.email))).to.have.length(1);
  });

  it('records a receiver that never answers as timeout, a refused address as refused, a closed port as error, and does not follow redirects', async () => {
    const held: ServerResponse[] = [];
    receiver.answer = (req, res) => {
      if (req.url === '/slow') held.push(res);
      else if (req.url === '/moved') res.writeHead(302, { Location: '/elsewhere' }).end();
      else res.end('ok');
    };
    const totalTimeoutMs = 600;
    const d = dispatcher({ timeouts: { connectTimeoutMs: 2000, totalTimeoutMs } });
    expect(SEND_TIMEOUTS).to.deep.equal({ connectTimeoutMs: 5000, totalTimeoutMs: 15000 });
    const slow = await endpoint({ url: `${receiver.url}/slow` });
    const moved = await endpoint({ url: `${receiver.url}/moved` });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const nobody = await endpoint({ url: `http://127.0.0.1:${closedPort}/hook` });
    const metadata = await endpoint({ url: 'http://169.254.169.254/latest/meta-data/' });
    const [slowId] = await queue(slow.id);
    const [movedId] = await queue(moved.id);
    const [nobodyId] = await queue(nobody.id);
    const [metadataId] = await queue(metadata.id);
    const started = Date.now();
    expect(await d.runOnce()).to.equal(4);
    expect(Date.now() - started, 'the total timeout cut the slow receiver off').to.be.below(totalTimeoutMs + 10_000);
    const only = async (id: string) => {
      const attempts = await repos.webhooks.listAttempts(id);
      expect(attempts).to.have.length(1);
      return attempts[0]!;
    };
    const timedOut = await only(slowId!);
    expect(timedOut).to.include({ outcome: 'timeout', responseCode: null });
    expect(timedOut.durationMs).to.be.at.least(totalTimeoutMs - 50);
    expect(await only(movedId!)).to.include({ outcome: 'failed', responseCode: 302 });
    expect(receiver.requests.map((r) => r.path).sort(), 'the redirect was not followed').to.deep.equal(['/moved', '/slow']);
    const refusedConnection = await only(nobodyId!);
    expect(refusedConnection).to.include({ outcome: 'error', responseCode: null });
    expect(refusedConnection.error).to.include('ECONNREFUSED').and.not.include('127.0.0.1');
    expect(await only(metadataId!)).to.include({ outcome: 'refused', responseCode: null });
    for (const id of [slowId, movedId, nobodyId, metadataId]) expect((await delivery(id!)).status, 'retried later').to.equal('pending');
    for (const res of held) res.destroy();

    // Without OUTBOUND_ALLOW, loopback is refused before any connection is made.
    const strict = dispatcher({ outbound: createOutbound({ allow: [] }) });
    const local = await endpoint();
    const [localId] = await queue(local.id);
    const before = receiver.requests.length;
    expect(await strict.runOnce()).to.equal(1);
    expect(await only(localId!)).to.include({ outcome: 'refused' });
    expect(receiver.requests.length, 'nothing reached the receiver').to.equal(before);
  });

  it('keeps the first 1 KB of the answer, not more, as text (a character cut at the mark is left out)', async () => {
    const d = dispatcher();
    const { id: endpointId } = await endpoint();
    let answer: Buffer = Buffer.alloc(0);
    receiver.answer = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
    const check = async (body: Buffer, expected: string) => {
      answer = body;
      const [id] = await queue(endpointId);
      expect(await d.runOnce()).to.equal(1);
      const [attempt] = await repos.webhooks.listAttempts(id!);
      expect(attempt!.responseExcerpt).to.equal(expected);
    };
    expect(EXCERPT_BYTES).to.equal(1024);
    await check(Buffer.from('x'.repeat(5000)), 'x'.repeat(1024));
    await check(Buffer.from(`${'a'.repeat(1023)}é and more`), 'a'.repeat(1023));
    await check(Buffer.from('short answer'), 'short answer');
    // A NUL (which PostgreSQL text refuses) is kept as a replacement character.
    await check(Buffer.from('a\u0000b'), 'a\uFFFDb');
    // A big answer is not read beyond the first kilobyte: still delivered.
    await check(Buffer.alloc(8 * 1024 * 1024, 'y'), 'y'.repeat(1024));
  });

  it('a claim lasts the lease: a delivery claimed by a replica that died goes out after it, and stop() waits for sends in flight', async () => {
    const { id: endpointId } = await endpoint();
    const [id] = await queue(endpointId);
    // A replica claims and dies before sending.
    const claimed = await repos.transaction((tx) => tx.webhooks.claimDue(now, new Date(now.getTime() + LEASE_MS), 10, 'dead-replica'));
    expect(claimed.map((c) => c.id)).to.deep.equal([id]);
    expect(claimed[0]!.endpoint).to.include({ id: endpointId, enabled: true });
    const d = dispatcher();
    expect(await d.runOnce(), 'still claimed').to.equal(0);
    now = new Date(now.getTime() + LEASE_MS);
    let release: () => void = () => undefined;
    receiver.answer = (_req, res) => {
      release = () => res.end('ok');
    };
    d.start();
    await until(() => receiver.requests.length === 1, 'the receiver got the delivery');
    let stopped = false;
    const stopping = d.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped, 'stop() waits for the send in flight').to.equal(false);
    release();
    await stopping;
    expect((await delivery(id!)).status).to.equal('delivered');
  });

  /**
   * A second connection pool to the test database. On SQLite, two handles in one process would deadlock (a
   * blocked BEGIN IMMEDIATE waits synchronously, holding up the event loop the holder needs to commit): there,
   * in-process dispatchers share the app's handle, and the separate-process test below covers separate connections.
   */
  function secondHandle(): Db {
    if (testDialect() !== 'postgres') return app.db;
    const db = createDb(testDatabase());
    extraDbs.push(db);
    return db;
  }

  const countPerId = (requests: Received[]): Map<string, number> => {
    const perId = new Map<string, number>();
    for (const r of requests) perId.set(r.headers['webhook-id']!, (perId.get(r.headers['webhook-id']!) ?? 0) + 1);
    return perId;
  };

  it('two dispatchers on separate connection pools send each of many due deliveries exactly once', async () => {
    const second = secondHandle();
    const a = dispatcher({ batch: 5, concurrency: 3 });
    const b = dispatcher({ batch: 5, concurrency: 3, repos: createRepos(second) });
    const endpoints = await Promise.all([endpoint(), endpoint(), endpoint()]);
    const ids: string[] = [];
    for (const e of endpoints) ids.push(...(await queue(e.id, 30)));
    // Answers take a moment, so claims overlap.
    receiver.answer = (_req, res) => setTimeout(() => res.end('ok'), 5);
    const drain = async (d: WebhookDispatcher) => {
      let sent = 0;
      for (let n = await d.runOnce(); n > 0; n = await d.runOnce()) sent += n;
      return sent;
    };
    // Two loops per dispatcher; each stops once nothing is left to claim.
    const [a1, b1, a2, b2] = await Promise.all([drain(a), drain(b), drain(a), drain(b)]);
    const byA = a1! + a2!;
    const byB = b1! + b2!;
    const perId = countPerId(receiver.requests);
    expect([...perId.keys()].sort()).to.deep.equal([...ids].sort());
    expect([...perId.values()].every((n) => n === 1), 'each delivery went out once').to.equal(true);
    expect(byA + byB, `claimed by A: ${byA}, by B: ${byB}`).to.equal(ids.length);
    expect(Number((await app.db('webhook_attempts').count({ n: '*' }))[0]!.n)).to.equal(ids.length);
    expect(await app.db('webhook_deliveries').whereNot({ status: 'delivered' })).to.deep.equal([]);
  });

  it('dispatchers in separate processes (cluster workers, replicas) on the same database send each delivery exactly once', async function () {
    this.timeout(90_000);
    const endpoints = await Promise.all([endpoint(), endpoint()]);
    const ids: string[] = [];
    for (const e of endpoints) ids.push(...(await queue(e.id, 40, new Date(Date.now() - 60_000))));
    receiver.answer = (_req, res) => setTimeout(() => res.end('ok'), 5);
    const { dataDir, databaseUrl } = testDatabase();
    const goFile = path.join(dataDir, `webhooks-go-${randomBase62(8)}`);
    const env = { DATA_DIR: dataDir, DATABASE_URL: databaseUrl ?? '', GO_FILE: goFile, BATCH: '4' };
    const children = [spawnTs('server/test/helpers/webhook-dispatcher-child.ts', env), spawnTs('server/test/helpers/webhook-dispatcher-child.ts', env)];
    try {
      for (const child of children) await child.waitUntil(() => child.logs().some((l) => l.ready === true), 30_000, 'ready');
      await fs.writeFile(goFile, '');
      for (const child of children) expect((await child.waitForExit(60_000)).code, child.stderr()).to.equal(0);
    } finally {
      await fs.rm(goFile, { force: true });
    }
    const sent = children.map((c) => Number(c.logs().find((l) => typeof l.sent === 'number')!.sent));
    const perId = countPerId(receiver.requests);
    expect([...perId.keys()].sort()).to.deep.equal([...ids].sort());
    expect([...perId.entries()].filter(([, n]) => n !== 1), 'sent more than once').to.deep.equal([]);
    expect(sent[0]! + sent[1]!, `claimed: ${sent.join(' and ')}`).to.equal(ids.length);
    expect(await app.db('webhook_deliveries').whereNot({ status: 'delivered' })).to.deep.equal([]);
  });

  it('two running dispatchers (poll loops) deliver everything once, and a database outage is logged once and never crashes the loop', async () => {
    const second = secondHandle();
    const a = dispatcher({ pollMs: 10, batch: 4 });
    const b = dispatcher({ pollMs: 10, batch: 4, repos: createRepos(second) });
    const { id: endpointId } = await endpoint();
    now = new Date(); // the loops read the clock themselves
    const ids = await queue(endpointId, 40);
    a.start();
    b.start();
    await until(async () => Number((await app.db('webhook_deliveries').where({ status: 'delivered' }).count({ n: '*' }))[0]!.n) === ids.length, 'all delivered', 20_000);
    expect(receiver.requests).to.have.length(ids.length);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).to.equal(ids.length);

    // A dispatcher whose database is gone: every poll fails, one line says so.
    const lines: Array<Record<string, unknown>> = [];
    const dead = createDb(testDatabase());
    await dead.destroy();
    const deadRepos = createRepos(dead);
    let passes = 0;
    // Each pass starts with a plain read for anything due (no transaction), then claims in one.
    const counted: Repos = {
      ...deadRepos,
      webhooks: { ...deadRepos.webhooks, anyDue: (at) => ((passes += 1), deadRepos.webhooks.anyDue(at)) },
      transaction: (fn) => ((passes += 1), deadRepos.transaction(fn)),
    };
    const broken = dispatcher({ pollMs: 10, repos: counted, logger: logsInto(lines) });
    broken.start();
    await until(() => passes >= 5, 'five failed passes');
    const errors = lines.filter((l) => Number(l.level) >= 50);
    expect(errors, JSON.stringify(lines.slice(0, 3))).to.have.length(1);
    await broken.stop();
  });
  it('a send that outlives its lease records nothing once another dispatcher has claimed the delivery, and a claim takes only what it can send at once', async () => {
    const lines: Array<Record<string, unknown>> = [];
    // One send slot and a large batch: before, the batch was claimed whole and queued behind the first send.
    const x = dispatcher({ concurrency: 1, batch: 20, logger: logsInto(lines) });
    const y = dispatcher({ repos: createRepos(secondHandle()) });
    const { id: endpointId } = await endpoint();
    const ids = await queue(endpointId, 2);
    let release: () => void = () => undefined;
    let holding = true;
    receiver.answer = (_req, res) => {
      if (!holding) return void res.end('ok');
      holding = false;
      release = () => res.end('ok');
    };
    const xRun = x.runOnce();
    await until(() => receiver.requests.length === 1, 'x sent its first delivery');
    const first = receiver.requests[0]!.headers['webhook-id']!;
    const second = ids.find((id) => id !== first);
    expect(ids).to.include(first);
    expect((await delivery(second!)).lockedUntil, 'x claimed only what it could send at once').to.equal(null);
    // x's receiver holds its answer while the clock moves past the lease: x is presumed dead, y takes over.
    now = new Date(now.getTime() + LEASE_MS + 1000);
    expect(await y.runOnce(), 'y claims both').to.equal(2);
    release();
    expect(await xRun, 'x claimed one delivery, and nothing after it').to.equal(1);
    const perId = countPerId(receiver.requests);
    // The first went out twice (x was presumed dead: at least once), the second once; each has one attempt on record.
    expect(Object.fromEntries(perId)).to.deep.equal({ [first!]: 2, [second!]: 1 });
    for (const id of [first!, second!]) {
      expect(await repos.webhooks.listAttempts(id), id).to.have.length(1);
      expect(await delivery(id)).to.include({ status: 'delivered', attempts: 1, claimToken: null });
    }
    const lost = lines.filter((l) => String(l.msg).includes('claim lost'));
    expect(lost.map((l) => [l.level, l.delivery])).to.deep.equal([[40, first]]);
  });

  it('one endpoint’s backlog to a receiver that never answers takes at most two send slots: other endpoints’ deliveries go out at once', async () => {
    const held: ServerResponse[] = [];
    let hang = true;
    receiver.answer = (req, res) => {
      if (req.url === '/stuck' && hang) held.push(res);
      else res.end('ok');
    };
    now = new Date(); // the loop reads the clock itself
    const stuck = await endpoint({ url: `${receiver.url}/stuck` });
    const other = await endpoint();
    // Older, so first in line: before, the first claim (20, oldest first) took only these.
    const stuckIds = await queue(stuck.id, 30, new Date(now.getTime() - 60_000));
    const [otherFirst] = await queue(other.id);
    const d = dispatcher({ pollMs: 60_000 });
    d.start();
    // Default send timeouts (15 s): the stuck sends hang all along this test.
    await until(async () => (await delivery(otherFirst!)).status === 'delivered', 'the other endpoint’s delivery went out while the stuck ones hang', 10_000);
    expect(held.length, 'two of the stuck endpoint’s deliveries in flight').to.equal(2);
    // A delivery recorded while the stuck sends still hang goes out at once too: the pass does not wait for them.
    now = new Date();
    const [otherSecond] = await queue(other.id);
    d.nudge();
    await until(async () => (await delivery(otherSecond!)).status === 'delivered', 'a later delivery went out while the stuck ones hang', 10_000);
    expect(held.length, 'still only two of the stuck endpoint in flight').to.equal(2);
    expect(receiver.requests.filter((r) => r.path === '/stuck')).to.have.length(2);
    // The receiver answers again: the backlog drains.
    hang = false;
    for (const res of held) res.end('ok');
    await until(async () => Number((await app.db('webhook_deliveries').where({ status: 'delivered' }).count({ n: '*' }))[0]!.n) === stuckIds.length + 2, 'the backlog drained', 20_000);
    expect([...countPerId(receiver.requests).values()].every((n) => n === 1), 'each sent once').to.equal(true);
  });

  it('polling an empty outbox opens no transaction (no write lock on SQLite): a plain read comes first', async () => {
    let transactions = 0;
    const counted: Repos = { ...repos, transaction: (fn) => ((transactions += 1), repos.transaction(fn)) };
    const d = dispatcher({ repos: counted });
    const { id: endpointId } = await endpoint();
    for (let i = 0; i < 3; i++) expect(await d.runOnce()).to.equal(0);
    // Not due yet, or on a switched-off endpoint: still nothing to claim.
    await queue(endpointId, 1, new Date(now.getTime() + 60_000));
    const off = await endpoint();
    await queue(off.id);
    await repos.webhooks.updateEndpoint(off.id, { enabled: false, disabledReason: 'owner', disabledAt: now }, now);
    expect(await d.runOnce()).to.equal(0);
    expect(transactions, 'no claim transaction for an empty outbox').to.equal(0);
    now = new Date(now.getTime() + 60_000);
    expect(await d.runOnce()).to.equal(1);
    expect(transactions, 'one to claim, one to record').to.equal(2);
  });
  it('records an attempt whose endpoint is switched off while it is in flight, without deadlocking: the record path locks the endpoint first, like the service', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const d = dispatcher({ logger: logsInto(lines) });
    const { id: endpointId } = await endpoint();
    const [id] = await queue(endpointId);
    let release: () => void = () => undefined;
    receiver.answer = (_req, res) => {
      release = () => res.writeHead(500).end('nope');
    };
    const run = d.runOnce();
    await until(() => receiver.requests.length === 1, 'the delivery is in flight');
    const switchOff = { enabled: false, disabled_reason: 'owner', disabled_at: now, updated_at: now };
    if (testDialect() === 'postgres') {
      // The service's switch-off on another connection: the endpoint row first, then its deliveries. Between the two,
      // the send finishes and its record path starts: it must wait for the endpoint, holding no delivery row.
      await secondHandle().transaction(async (trx) => {
        await trx('webhook_endpoints').where({ id: endpointId }).update(switchOff);
        release();
        await until(
          async () => Number(((await app.db.raw("select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")) as { rows: Array<{ n: string }> }).rows[0]!.n) >= 1,
          'the record path waits for the endpoint row',
        );
        await trx('webhook_deliveries').where({ endpoint_id: endpointId, status: 'pending' }).update({ status: 'failed', next_attempt_at: null, locked_until: null, finished_at: now });
      });
    } else {
      // One writer at a time on SQLite: the same switch-off, committed while the send is in flight.
      await repos.transaction(async (tx) => {
        await tx.webhooks.updateEndpoint(endpointId, { enabled: false, disabledReason: 'owner', disabledAt: now }, now);
        await tx.webhooks.failPendingOf(endpointId, now);
      });
      release();
    }
    expect(await run).to.equal(1);
    const attempts = await repos.webhooks.listAttempts(id!);
    expect(attempts.map((a) => [a.outcome, a.responseCode]), 'the attempt in flight is on record').to.deep.equal([['failed', 500]]);
    expect(await delivery(id!), 'ended: its endpoint is off').to.include({ status: 'failed', nextAttemptAt: null });
    expect(lines.filter((l) => Number(l.level) >= 40), 'no deadlock, nothing lost').to.deep.equal([]);
  });
});
