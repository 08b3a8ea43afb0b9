import { expect } from 'chai';
import fs from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import type { TestUser } from '../helpers/accounts.js';
import { freePort, killAllChildren, spawnTs, type Child } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';
import { loggedMailLink } from '../helpers/logged-mail.js';
import { createDb } from '../../db/knex.js';
import { createScratchPostgres, type ScratchPostgres } from '../helpers/scratch-db.js';
import { testDialect } from '../helpers/test-db.js';
import { WebClient } from '../helpers/web-client.js';

const START_TIMEOUT_MS = 60_000;
/** Issue 14: a change made in one worker stops every other worker serving within this long. */
const COHERENCE_BOUND_MS = 1000;
/** Fresh connections per batch: node:cluster deals connections to the workers in turn, so a batch reaches all. */
const BATCH = 20;

/** One GET on a new TCP connection (no keep-alive), so the primary hands it to the next worker. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const batch = (url: string) => Promise.all(Array.from({ length: BATCH }, () => freshGet(url)));

/** Only against hanging: how long a worker may go on serving before the poll gives up (the bound is checked after). */
const POLL_LIMIT_MS = 15_000;

/**
 * Polls batches of fresh-connection fetches until a whole batch answers 404. Returns how long after `since` the last
 * request that still got the old answer was sent (0 if none did): the time the change took to reach every worker,
 * measured at the requests' side, so neither a batch's own round trips nor a slow test process adds to it.
 */
async function staleFor(url: string, since: number): Promise<number> {
  let lastStale = 0;
  for (;;) {
    const answers = await Promise.all(
      Array.from({ length: BATCH }, async () => {
        const sentAt = performance.now();
        return { sentAt, status: await freshGet(url) };
      }),
    );
    for (const a of answers) if (a.status !== 404) lastStale = Math.max(lastStale, a.sentAt - since);
    if (answers.every((a) => a.status === 404)) return lastStale;
    const elapsed = performance.now() - since;
    if (elapsed > POLL_LIMIT_MS) throw new Error(`${url} still answered ${answers.map((a) => a.status).join(',')} ${Math.round(elapsed)} ms after the change`);
  }
}

type Cluster = { child: Child; url: string; dataDir: string };

async function startPixbin(env: Record<string, string>): Promise<Cluster> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-cluster-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env });
  return { child, url, dataDir };
}

const logsWith = (child: Child, msg: string | RegExp) => child.logs().filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))));

/** Signs up, confirms the address with the link the app logged (no SMTP_URL), and logs in. */
async function signedIn(child: Child, url: string, name: string): Promise<TestUser> {
  const client = new WebClient(url);
  const username = `${name}${Date.now() % 100000}`;
  const password = 'correct horse battery staple';
  expect((await client.post('/signup', { username, email: `${username}@example.test`, password, age: 'yes', terms: 'yes' })).status).to.equal(200);
  expect((await client.post(await loggedMailLink(child.logs, `${username}@example.test`, `${url}/verify-email/`), {})).status).to.equal(200);
  const login = await client.post('/login', { login: username, password });
  expect(login.status, `login: ${JSON.stringify(child.logs().filter((l) => Number(l.level) >= 50))}`).to.equal(303);
  return { username, email: `${username}@example.test`, password, client, id: '' };
}

describe('WEB_CONCURRENCY: worker processes under node:cluster', function () {
  this.timeout(120_000);
  const started: Cluster[] = [];
  let pg: ScratchPostgres | null = null;
  const postgres = testDialect() === 'postgres';

  const start = async (env: Record<string, string>) => {
    if (postgres && !pg) pg = await createScratchPostgres();
    const app = await startPixbin({ ...(pg ? { DATABASE_URL: pg.url } : {}), ...env });
    started.push(app);
    return app;
  };

  afterEach(async () => {
    killAllChildren();
    for (const app of started.splice(0)) await fs.rm(app.dataDir, { recursive: true, force: true });
    await pg?.drop();
    pg = null;
  });

  it(`a deletion and a switch to private in one worker stop every worker serving within ${COHERENCE_BOUND_MS} ms`, async () => {
    const { child, url } = await start({ WEB_CONCURRENCY: '2' });
    await child.waitUntil(() => logsWith(child, 'all 2 workers are listening').length === 1, START_TIMEOUT_MS, 'both workers listening');
    // The workers' own lines travel through their stdout, which may arrive after the primary's.
    await child.waitUntil(() => logsWith(child, 'Pixbin is listening').length === 2, START_TIMEOUT_MS, 'both workers saying so');
    expect(logsWith(child, 'Pixbin is listening').map((l) => l.database)).to.deep.equal(Array(2).fill(postgres ? 'postgres' : 'sqlite'));

    const deleted = (await upload(url, { bytes: await fixtures.png() })).json();
    const alice = await signedIn(child, url, 'alice');
    const madePrivate = (await ownerUpload(alice, await fixtures.png())).json();
    // Every worker holds both rows (and, from the second request on, the bytes): many fresh connections each.
    for (let i = 0; i < 3; i++) {
      for (const target of [deleted.url, deleted.thumbnailUrl, madePrivate.url]) expect(await batch(target)).to.deep.equal(Array(BATCH).fill(200));
    }

    const changes: Array<[string[], () => Promise<{ status: number }>]> = [
      [[deleted.url, deleted.thumbnailUrl], () => rawRequest(deleted.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })],
      [[madePrivate.url], () => ownerPost(alice, `/account/images/${madePrivate.id}/visibility`, { visibility: 'private' }, { json: true })],
    ];
    const took: number[] = [];
    for (const [urls, change] of changes) {
      expect((await change()).status).to.equal(200);
      const since = performance.now();
      for (const target of urls) took.push(await staleFor(target, since));
    }
    expect(Math.max(...took), `ms after the change that a request still got the old answer: ${took.map(Math.round).join(', ')}`).to.be.below(COHERENCE_BOUND_MS);
    console.log(`      coherence: the last request with the old answer was sent ${took.map(Math.round).join('/')} ms after each change (bound ${COHERENCE_BOUND_MS} ms)`);
    // Still true a moment later (no worker re-cached the old row).
    for (const target of [deleted.url, madePrivate.url]) expect(await batch(target)).to.deep.equal(Array(BATCH).fill(404));
  });

  it('runs the scheduled jobs in exactly one worker, replaces a killed worker (jobs move to the replacement) and drains on SIGTERM', async () => {
    const { child, url } = await start({ WEB_CONCURRENCY: '2' });
    await child.waitUntil(() => logsWith(child, 'all 2 workers are listening').length === 1, START_TIMEOUT_MS, 'both workers listening');
    // The workers' own lines travel through their stdout, which may arrive after the primary's.
    await child.waitUntil(() => logsWith(child, 'Pixbin is listening').length === 2, START_TIMEOUT_MS, 'both workers saying so');
    expect(logsWith(child, 'starting 2 worker processes')).to.have.length(1);
    const listening = logsWith(child, 'Pixbin is listening');
    expect(listening.map((l) => l.worker).sort()).to.deep.equal([1, 2]);
    const jobRunners = logsWith(child, 'scheduled jobs run in this worker');
    expect(jobRunners.map((l) => l.worker)).to.deep.equal([1]);
    // The setup link is issued once, not once per worker (a second would replace the first).
    expect(child.logs().filter((l) => typeof l.setupUrl === 'string')).to.have.length(1);

    const jobsWorker = listening.find((l) => l.worker === 1)!;
    process.kill(Number(jobsWorker.pid), 'SIGKILL');
    await child.waitUntil(() => logsWith(child, /^worker 1 exited \(signal SIGKILL\); starting a replacement$/).length === 1, 10_000, 'the primary noticing the exit');
    // Worker 2 answers every connection meanwhile, and the replacement joins it.
    expect(await batch(`${url}/readyz`)).to.deep.equal(Array(BATCH).fill(200));
    await child.waitUntil(() => logsWith(child, 'Pixbin is listening').length === 3, START_TIMEOUT_MS, 'the replacement listening');
    const replacement = logsWith(child, 'Pixbin is listening')[2]!;
    expect(replacement.worker).to.equal(1);
    expect(replacement.pid).to.not.equal(jobsWorker.pid);
    expect(logsWith(child, 'scheduled jobs run in this worker').map((l) => l.worker)).to.deep.equal([1, 1]);
    expect(child.logs().filter((l) => typeof l.setupUrl === 'string'), 'a replacement issues no new setup link').to.have.length(1);
    expect(await batch(`${url}/readyz`)).to.deep.equal(Array(BATCH).fill(200));

    child.process.kill('SIGTERM');
    const exit = await child.waitForExit(20_000);
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(logsWith(child, 'stopped').map((l) => l.worker ?? l.cluster).sort()).to.deep.equal([1, 2, 'primary'].sort());
  });

  it('exits 78 once, without forking again, when the workers cannot start (a configuration problem)', async () => {
    const { child } = await start({ WEB_CONCURRENCY: '2', JOB_SCHEDULES: 'no-such-job=* * * * *' });
    const exit = await child.waitForExit(START_TIMEOUT_MS);
    expect(exit.code, child.stdout()).to.equal(78);
    expect(logsWith(child, 'starting 2 worker processes')).to.have.length(1);
    expect(logsWith(child, /starting a replacement/)).to.have.length(0);
    const fatal = child.logs().filter((l) => l.cluster === 'primary' && l.level === 60);
    expect(fatal).to.have.length(1);
    expect(fatal[0]!.msg).to.match(/^JOBS_DISABLED\/JOB_SCHEDULES: no job is called "no-such-job"/);
  });

  if (!postgres) {
    it('SQLite: transactions that read then write, from two processes at once, all commit (no SQLITE_BUSY)', async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-cluster-'));
      started.push({ dataDir } as Cluster);
      const db = createDb({ databaseUrl: undefined, dataDir });
      try {
        await db.schema.createTable('counter', (t) => {
          t.integer('id').primary();
          t.integer('n').notNullable();
        });
        await db('counter').insert({ id: 1, n: 0 });
        const iterations = 300;
        const children = [0, 1].map(() => spawnTs('server/test/fixtures/sqlite-counter.ts', { DATA_DIR: dataDir, ITERATIONS: String(iterations) }));
        const exits = await Promise.all(children.map((c) => c.waitForExit(60_000)));
        expect(children.map((c) => c.stdout().trim())).to.deep.equal([`done ${iterations}`, `done ${iterations}`]);
        expect(exits.map((e) => e.code)).to.deep.equal([0, 0]);
        expect(((await db('counter').where({ id: 1 }).first()) as { n: number }).n).to.equal(2 * iterations);
      } finally {
        await db.destroy();
      }
    });
  }

  it('a scrape of /metrics, whichever worker answers it, counts the requests every worker served', async () => {
    const token = 'a-metrics-token-of-24-characters';
    const { child, url } = await start({ WEB_CONCURRENCY: '2', METRICS_TOKEN: token });
    await child.waitUntil(() => logsWith(child, 'all 2 workers are listening').length === 1, START_TIMEOUT_MS, 'both workers listening');
    await child.waitUntil(() => logsWith(child, 'Pixbin is listening').length === 2, START_TIMEOUT_MS, 'both workers saying so');
    // Fresh connections are dealt to the workers in turn, so each worker serves some of these.
    expect(await batch(`${url}/healthz`)).to.deep.equal(Array(BATCH).fill(200));
    const counted = (text: string) => {
      const line = text.split('\n').find((l) => l.startsWith('pixbin_http_request_duration_seconds_count{') && l.includes('route="/healthz"'));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    // Several scrapes on fresh connections reach both workers; each must report the whole cluster's count.
    const scrapes = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(`${url}/metrics`, { agent: false, headers: { Connection: 'close', Authorization: `Bearer ${token}` } }, (r) => {
            let body = '';
            r.setEncoding('utf8');
            r.on('data', (c: string) => (body += c));
            r.on('end', () => resolve({ status: r.statusCode!, body }));
          });
          req.on('error', reject);
          req.end();
        });
        expect(res.status, res.body).to.equal(200);
        return counted(res.body);
      }),
    );
    expect(scrapes).to.deep.equal(Array(6).fill(BATCH));
    child.process.kill('SIGTERM');
    expect(await child.waitForExit(20_000)).to.deep.equal({ code: 0, signal: null });
  });

  it('WEB_CONCURRENCY=1 (the default) is one process: no cluster primary, no worker numbers', async () => {
    const { child, url } = await start({ WEB_CONCURRENCY: '1' });
    await child.waitUntil(() => logsWith(child, 'Pixbin is listening').length === 1, START_TIMEOUT_MS, 'listening');
    expect((await rawRequest(`${url}/readyz`)).status).to.equal(200);
    expect(child.logs().filter((l) => 'cluster' in l || 'worker' in l)).to.deep.equal([]);
    expect(logsWith(child, 'scheduled jobs run in this worker')).to.have.length(0);
    child.process.kill('SIGTERM');
    expect(await child.waitForExit(20_000)).to.deep.equal({ code: 0, signal: null });
  });
});
