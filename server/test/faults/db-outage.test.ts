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
const OUTAGE_MS = 3000;
const RECOVERY_LIMIT_MS = 15_000;

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
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
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
      expect(during.length, 'requests during the outage').to.be.at.least(20);
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
      expect(down, 'one line for the outage').to.have.length(1);
      expect(down[0]).to.include({ level: 50, database: 'unavailable' });
      expect(down[0]!.code).to.be.oneOf(['ECONNREFUSED', 'connection_lost', '57P01']);
      expect(logs.filter((l) => /request failed/.test(String(l.msg))).map((l) => l.msg), 'no line per failed request').to.deep.equal([]);
      const back = logs.filter((l) => String(l.msg).startsWith('database is answering again'));
      expect(back).to.have.length(1);
      expect(back[0]).to.include({ level: 30, failedRequests: failed.length });
      expect(back[0]!.msg).to.match(new RegExp(`^database is answering again after [\\d.]+ s, ${failed.length} requests failed`));
      expect(outageLines.length, `a handful of lines, not one per request:\n${outageLog.slice(0, 3000)}`).to.be.at.most(8);
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
