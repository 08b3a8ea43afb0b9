import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDb } from '../../db/knex.js';
import { createRepos } from '../../db/repos.js';
import { createApiKey } from '../../services/api-keys.service.js';
import { API_SCOPES } from '../../services/caller.js';
import { freePort, spawnTs, type Child } from '../helpers/child-process.js';
import { rawRequest, type RawResponse } from '../helpers/http.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { WebClient } from '../helpers/web-client.js';

/**
 * Issue 15, item 4: during a PostgreSQL outage every request answered 500 and logged a full stack (2,676 lines in
 * 10 s). The drill: Pixbin runs as in production (server/main.ts in a child process, its stdout captured whole)
 * against a private PostgreSQL, which is stopped at once (pg_ctl stop -m immediate) while requests run, and
 * started again. During the outage pages and the API answer 503 with Retry-After and the log has one line for the
 * outage, not one per request; once the database is back the same process answers 200 again.
 */

type Kind = 'page' | 'json' | 'api' | 'account';
type Answer = { kind: Kind; at: number; status: number; retryAfter: string | undefined; contentType: string; body: string };

const LOAD_WORKERS = 3;
/** The outage lasts at least this long, and until DURING_REQUESTS requests (every kind among their 503s) were answered. */
const OUTAGE_MS = 3000;
const DURING_REQUESTS = 20;
const OUTAGE_LIMIT_MS = 60_000;
const RECOVERY_LIMIT_MS = 15_000;
/**
 * Once PostgreSQL is back, a pooled connection that died with it can still fail one request before the pool drops
 * it: that opens a short burst of its own (a line when it starts, one when the probe finds the database answering).
 * The log may have this many such bursts, never a line per request.
 */
const MAX_BURSTS = 3;

describe('a PostgreSQL outage (fault drill)', function () {
  this.timeout(120_000);
  let database: PrivatePostgres | null = null;
  let child: Child | null = null;
  let dataDir = '';

  before(async function () {
    this.timeout(90_000);
    database = await startPrivatePostgres();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-db-outage-'));
  });

  after(async function () {
    this.timeout(60_000);
    if (child && child.process.exitCode === null) {
      child.process.kill('SIGTERM');
      await child.waitForExit(20_000).catch(() => undefined);
    }
    await database?.destroy();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('pages and the API answer 503 with Retry-After, the log says so once with a count, and the app recovers without a restart', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const app = spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, DATABASE_URL: database!.url, JOBS_ENABLED: 'false', LOG_LEVEL: 'info' });
    child = app;
    await app.waitUntil(() => app.logs().some((l) => l.msg === 'Pixbin is listening'), 60_000, 'listening log line');

    // Someone to look at: a profile page, a signed-in page and an API key all need the database (the key is made
    // through the service, as the API tests do).
    const username = `outage${Date.now() % 100000}`;
    const client = new WebClient(url);
    const signup = await client.post('/signup', { username, email: `${username}@example.test`, password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
    expect(signup.status, signup.body.toString().slice(0, 300)).to.equal(200);
    expect((await client.post('/login', { login: username, password: 'correct horse battery staple' })).status).to.equal(303);
    expect((await rawRequest(`${url}/u/${username}`, { headers: { Accept: 'text/html' } })).status).to.equal(200);
    expect((await client.get('/account/images')).status).to.equal(200);
    const direct = createDb({ databaseUrl: database!.url, dataDir });
    let key: string;
    try {
      const repos = createRepos(direct);
      const user = (await repos.users.findByUsername(username))!;
      key = (await createApiKey({ repos, clock: () => new Date() }, user, { name: 'drill', scopes: [...API_SCOPES], lifetime: 'never' }, { ip: '127.0.0.1', userAgent: 'test' })).fullKey;
    } finally {
      await direct.destroy();
    }

    const requests: Record<Kind, () => Promise<RawResponse>> = {
      page: () => rawRequest(`${url}/u/${username}`, { headers: { Accept: 'text/html' } }),
      json: () => rawRequest(`${url}/u/${username}`, { headers: { Accept: 'application/json' } }),
      api: () => rawRequest(`${url}/api/v1/me`, { headers: { Authorization: `Bearer ${key}` } }),
      account: () => client.get('/account/images'),
    };
    const kinds = Object.keys(requests) as Kind[];
    const answers: Answer[] = [];
    let loading = true;
    const worker = async (offset: number) => {
      for (let i = offset; loading; i++) {
        const kind = kinds[i % kinds.length]!;
        const res = await requests[kind]();
        const header = (name: string) => [res.headers[name]].flat()[0];
        answers.push({ kind, at: Date.now(), status: res.status, retryAfter: header('retry-after'), contentType: header('content-type') ?? '', body: res.body.toString('utf8') });
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    const logStart = app.stdout().length;
    const load = Promise.all(Array.from({ length: LOAD_WORKERS }, (_, i) => worker(i)));
    try {
      await new Promise((r) => setTimeout(r, 300));
      await database!.stop();
      const stoppedAt = Date.now();
      await app.waitUntil(() => answers.some((a) => a.at > stoppedAt && a.status === 503), 10_000, 'a 503 after the database stopped');
      const readyDuring = await rawRequest(`${url}/readyz`);
      // Not a fixed time (a loaded machine answers fewer requests in it): enough requests, of every kind.
      const enoughDuring = () => {
        const since = answers.filter((a) => a.at > stoppedAt);
        return since.length >= DURING_REQUESTS && kinds.every((kind) => since.some((a) => a.kind === kind && a.status === 503));
      };
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await app.waitUntil(enoughDuring, OUTAGE_LIMIT_MS, `${DURING_REQUESTS} answers, every kind answering 503, during the outage`);
      const restartingAt = Date.now();
      await database!.start();
      const startedAt = Date.now();
      const firstPageAfter = () => answers.find((a) => a.at > startedAt && a.kind === 'page' && a.status === 200);
      const deadline = startedAt + RECOVERY_LIMIT_MS;
      while (!firstPageAfter() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const recovered = firstPageAfter();
      expect(recovered, `no 200 page within ${RECOVERY_LIMIT_MS} ms of the database starting again${await database!.log()}`).to.not.equal(undefined);
      await app.waitUntil(() => app.logs().some((l) => String(l.msg).startsWith('database is answering again')), 10_000, 'the "answering again" log line');
      loading = false;
      await load;
      // A burst opened by a stale pooled connection after the restart is closed by the probe within a second or so.
      const count = (prefix: string) => app.logs().filter((l) => String(l.msg).startsWith(prefix)).length;
      await app.waitUntil(() => count('database is answering again') === count('database is not answering'), 15_000, 'every outage burst closed by an "answering again" line');
      const recoveredAt = recovered!.at;
      const outageLog = app.stdout().slice(logStart);
      const outageLines = outageLog.split('\n').filter(Boolean);

      // --- what clients were told -------------------------------------------------------------------------------
      const during = answers.filter((a) => a.at > stoppedAt && a.at < restartingAt);
      const failed = answers.filter((a) => a.status >= 500);
      console.log(
        `      ${answers.length} requests (${failed.length} answered 503) in ${((recoveredAt - stoppedAt) / 1000).toFixed(1)} s; ` +
          `recovery: first 200 page ${recoveredAt - startedAt} ms after PostgreSQL accepted connections again ` +
          `(${recoveredAt - restartingAt} ms after pg_ctl start began); log during the outage: ${outageLines.length} lines, ${outageLog.length} bytes`,
      );
      expect(during.length, 'requests during the outage').to.be.at.least(DURING_REQUESTS);
      expect(
        answers.filter((a) => a.status !== 200 && a.status !== 503).map((a) => `${a.kind} ${a.status}: ${a.body.slice(0, 200)}`),
        'nothing but 200 or 503',
      ).to.deep.equal([]);
      for (const kind of kinds) expect(during.filter((a) => a.kind === kind && a.status === 503), `${kind} answers 503 during the outage`).to.not.be.empty;
      for (const a of failed) {
        expect(a.status).to.equal(503);
        expect(a.retryAfter, `${a.kind}: Retry-After`).to.equal('5');
        expect(a.body).to.not.match(/ECONNREFUSED|57P0\d|Connection terminated|not yet accepting|\.(ts|js):\d+:\d+/);
        if (a.kind === 'page' || a.kind === 'account') {
          expect(a.contentType).to.match(/^text\/html/);
          expect(a.body).to.include('The database is not answering right now');
        } else if (a.kind === 'json') {
          expect(JSON.parse(a.body)).to.deep.include({ error: { code: 'database_unavailable', message: 'The database is not answering right now. Please try again in a moment.' } });
        } else {
          expect(a.contentType).to.match(/^application\/problem\+json/);
          expect(JSON.parse(a.body)).to.include({ status: 503, code: 'database_unavailable' });
        }
      }
      expect(readyDuring.status).to.equal(503);
      expect(readyDuring.json()).to.deep.equal({ status: 'unavailable', checks: { database: 'fail', storage: 'ok' } });

      // --- what the operator's log says ---------------------------------------------------------------------------
      const logs = outageLines.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, any>];
        } catch {
          return [];
        }
      });
      const notJson = outageLines.filter((line) => !line.startsWith('{'));
      expect(notJson, 'every line on stdout is a pino JSON line (knex prints nothing of its own)').to.deep.equal([]);
      const down = logs.filter((l) => String(l.msg).startsWith('database is not answering'));
      const downWhileStopped = down.filter((l) => Number(l.time) < restartingAt);
      expect(downWhileStopped, 'one line for the outage itself').to.have.length(1);
      expect(down.length, `bursts (the outage, and any stale pooled connection after it):\n${outageLog.slice(0, 3000)}`).to.be.at.most(MAX_BURSTS);
      for (const line of down) expect(line).to.include({ level: 50, database: 'unavailable' });
      // The first failure is a new connection refused, or a pooled one the stopping server terminated or reset (which
      // comes first depends on whether a request took a pooled connection before the pool dropped them).
      expect(downWhileStopped[0]!.code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'connection_lost', '57P01']);
      // A pooled connection that died with the server fails when next used: reset, or terminated.
      for (const line of down.slice(1)) expect(line.code, 'a stale pooled connection').to.be.oneOf(['ECONNRESET', 'EPIPE', 'connection_lost', '57P01']);
      expect(logs.filter((l) => /request failed/.test(String(l.msg))).map((l) => l.msg), 'no line per failed request').to.deep.equal([]);
      const back = logs.filter((l) => String(l.msg).startsWith('database is answering again'));
      expect(back, 'every burst is closed by one "answering again" line').to.have.length(down.length);
      for (const line of back) {
        expect(line).to.include({ level: 30 });
        expect(line.msg).to.match(new RegExp(`^database is answering again after [\\d.]+ s, ${line.failedRequests} requests? failed`));
      }
      // Every failed request is counted, once, in the line that closes its burst.
      expect(back.reduce((sum, l) => sum + Number(l.failedRequests), 0), 'failed requests counted by the closing lines').to.equal(failed.length);
      // The outage's own closing line counts (at least) every request that failed while PostgreSQL was stopped.
      expect(back[0]!.failedRequests).to.be.at.least(failed.filter((a) => a.at < restartingAt).length);
      // A handful of lines for the outage, two for each later burst: not one per request.
      const lineLimit = 8 + 2 * (down.length - 1);
      expect(outageLines.length, `a handful of lines, not one per request:\n${outageLog.slice(0, 3000)}`).to.be.at.most(lineLimit);
      expect(outageLines.length, 'far fewer lines than failed requests').to.be.below(failed.length);
    } finally {
      loading = false;
      await load.catch(() => undefined);
    }

    // The same process, without a restart, goes on as before.
    expect((await client.get('/account/images')).status).to.equal(200);
    expect((await requests.api()).status).to.equal(200);
    expect((await rawRequest(`${url}/readyz`)).status).to.equal(200);
  });
});
