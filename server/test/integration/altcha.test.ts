import { expect } from 'chai';
import pino from 'pino';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { createContainer } from '../../container.js';
import { createDb, type Db } from '../../db/knex.js';
import { expireSessionsAndTokens } from '../../jobs/expire-sessions-and-tokens.job.js';
import { stopImageChangeFeed } from '../../db/change-feed.js';
import { fixtures } from '../fixtures/images.js';
import { expectJsonError, expectNothingLeft } from '../helpers/assertions.js';
import { rawRequest, upload, type RawResponse } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { testDatabase } from '../helpers/test-db.js';
import { WebClient } from '../helpers/web-client.js';

/**
 * BOT_PROTECTION=altcha: challenges from this server, solved here with altcha-lib's own solver (real proof of work,
 * at the lowest cost the setting allows), verified locally, bound to one form, expiring, and good for one use
 * across replicas.
 */

const ENV = { BOT_PROTECTION: 'altcha', ALTCHA_COST: '1000' };
const MINUTE = 60_000;

async function challengeFrom(app: TestApp, action: string): Promise<Challenge> {
  const res = await rawRequest(`${app.url}/altcha/challenge?action=${action}`, { headers: { Accept: 'application/json' } });
  expect(res.status, res.body.toString()).to.equal(200);
  expect(res.headers['cache-control']).to.equal('no-store');
  return res.json() as Challenge;
}

/** What the widget puts in the form's altcha field: base64 of the challenge and its solution. */
async function solved(app: TestApp, action: string): Promise<string> {
  const challenge = await challengeFrom(app, action);
  const solution = await solveChallenge({ challenge, deriveKey });
  expect(solution, 'solved').to.not.equal(null);
  return Buffer.from(JSON.stringify({ challenge: { parameters: challenge.parameters, signature: challenge.signature }, solution })).toString('base64');
}

const uploadWith = async (app: TestApp, answer: string | undefined): Promise<RawResponse> =>
  upload(app.url, { bytes: await fixtures.png() }, { extraParts: answer === undefined ? [] : [{ name: 'altcha', value: answer }] });

/** The answer first, as the upload page sends it, so the check runs before the file is written. */
const uploadAnswerFirst = async (url: string, answer: string): Promise<RawResponse> => {
  const { multipart } = await import('../helpers/http.js');
  const { body, contentType } = multipart([
    { name: 'altcha', value: answer },
    { name: 'file', value: await fixtures.png(), filename: 'a.png', contentType: 'image/png' },
  ]);
  return rawRequest(`${url}/upload`, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' }, body });
};

describe('ALTCHA bot protection (BOT_PROTECTION=altcha)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let now: Date;
  beforeEach(async () => {
    // A controlled clock near real time (the library also checks expiry against the real one).
    now = new Date();
    app = await startTestApp(ENV, { clock: () => now });
  });
  afterEach(() => app.close());

  it('stores a guest upload with a valid solution, sent first or after the file, and records it as spent', async () => {
    const first = await uploadAnswerFirst(app.url, await solved(app, 'upload'));
    expect(first.status, first.body.toString()).to.equal(201);
    const after = await uploadWith(app, await solved(app, 'upload'));
    expect(after.status, after.body.toString()).to.equal(201);
    expect(await app.db('altcha_spent').count({ n: '*' }).first()).to.satisfy((r: { n: unknown }) => Number(r.n) === 2);
  });

  it('signs challenges with a key kept in the database, shown to nobody', async () => {
    const challenge = await challengeFrom(app, 'upload');
    const key = (await app.db('app_secrets').where({ name: 'altcha' }).first()) as { value: string };
    expect(key.value).to.have.length.greaterThan(30);
    expect(JSON.stringify(challenge)).not.to.include(key.value);
    expect(challenge.parameters).to.include({ algorithm: 'PBKDF2/SHA-256', cost: 1000 });
    expect(challenge.parameters.data).to.deep.equal({ action: 'upload' });
    expect(challenge.parameters.expiresAt).to.equal(Math.floor(now.getTime() / 1000) + 600);
  });

  it('answers 400 for a challenge asked for no known form', async () => {
    expectJsonError(await rawRequest(`${app.url}/altcha/challenge?action=delete`, { headers: { Accept: 'application/json' } }), 400, 'bad_action');
    expectJsonError(await rawRequest(`${app.url}/altcha/challenge`, { headers: { Accept: 'application/json' } }), 400, 'bad_action');
  });

  it('refuses a missing answer (400 bot_check_missing) and stores nothing', async () => {
    expect(expectJsonError(await uploadWith(app, undefined), 400, 'bot_check_missing')).to.match(/bot check/);
    expectJsonError(await uploadWith(app, ''), 400, 'bot_check_missing');
    await expectNothingLeft(app);
  });

  it('refuses forged answers (403 bot_check_failed): garbage, a changed parameter, a wrong solution, another key', async () => {
    expectJsonError(await uploadWith(app, 'not base64 json'), 403, 'bot_check_failed');
    expectJsonError(await uploadWith(app, 'x'.repeat(4000)), 403, 'bot_check_failed');
    const answer = JSON.parse(Buffer.from(await solved(app, 'upload'), 'base64').toString()) as { challenge: Challenge; solution: { counter: number; derivedKey: string } };
    const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
    // A cheaper challenge than the one signed: the signature no longer matches.
    const cheaper = structuredClone(answer);
    cheaper.challenge.parameters.cost = 1;
    expectJsonError(await uploadWith(app, encode(cheaper)), 403, 'bot_check_failed');
    // The right challenge with a wrong counter.
    const wrong = structuredClone(answer);
    wrong.solution.counter += 1;
    expectJsonError(await uploadWith(app, encode(wrong)), 403, 'bot_check_failed');
    // A challenge the attacker signed and solved with a key of their own.
    const { createChallenge } = await import('altcha-lib');
    const own = await createChallenge({ algorithm: 'PBKDF2/SHA-256', cost: 1000, deriveKey, expiresAt: Math.floor(Date.now() / 1000) + 600, data: { action: 'upload' }, hmacSignatureSecret: 'attacker' });
    const ownSolution = await solveChallenge({ challenge: own, deriveKey });
    expectJsonError(await uploadWith(app, encode({ challenge: own, solution: ownSolution })), 403, 'bot_check_failed');
    await expectNothingLeft(app);
    // The honest answer still works once: the failed attempts did not spend it.
    expect((await uploadWith(app, encode(answer))).status).to.equal(201);
  });

  it('refuses an expired solution (403 bot_check_expired)', async () => {
    const answer = await solved(app, 'upload');
    now = new Date(now.getTime() + 11 * MINUTE);
    expect(expectJsonError(await uploadWith(app, answer), 403, 'bot_check_expired')).to.match(/expired/);
    await expectNothingLeft(app);
  });

  it('refuses a replay (403 bot_check_replayed) and stores only the first upload', async () => {
    const answer = await solved(app, 'upload');
    expect((await uploadWith(app, answer)).status).to.equal(201);
    expectJsonError(await uploadWith(app, answer), 403, 'bot_check_replayed');
    expect(await app.storedKeys()).to.have.length.greaterThan(0);
    expect(Number((await app.db('images').count({ n: '*' }))[0]!.n)).to.equal(1);
  });

  it('refuses a solution for another action (403 bot_check_failed), on upload and on forms', async () => {
    expectJsonError(await uploadWith(app, await solved(app, 'login')), 403, 'bot_check_failed');
    await expectNothingLeft(app);
    const client = new WebClient(app.url);
    const page = await client.post('/login', { login: 'nobody', password: 'whatever password', altcha: await solved(app, 'signup') });
    expect(page.status).to.equal(403);
    expect(page.body.toString()).to.include('The bot check did not pass');
  });

  it('guards sign-up, login, reset and report with the widget, and accepts a solution for each', async () => {
    const client = new WebClient(app.url);
    for (const [path, action] of [['/signup', 'signup'], ['/login', 'login'], ['/forgot-password', 'reset']] as const) {
      const page = (await client.get(path)).body.toString();
      expect(page, path).to.include(`<altcha-widget class="bot-check" challenge="/altcha/challenge?action=${action}"`);
      expect(page, path).to.include('<noscript>');
      expect(page, path).to.include('src="/static/js/bot-check.js"');
      expect(page, path).not.to.include('challenges.cloudflare.com');
    }
    const missing = await client.post('/signup', { username: 'altchauser', email: 'altcha@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
    expect(missing.status).to.equal(400);
    expect(missing.body.toString()).to.include('Please complete the bot check');
    expect(await app.db('users').where({ username_key: 'altchauser' })).to.have.length(0);
    const ok = await client.post('/signup', { username: 'altchauser', email: 'altcha@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes', altcha: await solved(app, 'signup') });
    expect(ok.status, ok.body.toString().slice(0, 400)).to.equal(200);
    expect(await app.db('users').where({ username_key: 'altchauser' })).to.have.length(1);
    await app.db('users').where({ username_key: 'altchauser' }).update({ email_verified_at: new Date() });
    const login = await client.post('/login', { login: 'altchauser', password: 'correct horse battery staple', altcha: await solved(app, 'login') });
    expect(login.status, login.body.toString().slice(0, 400)).to.equal(303);
    const reset = await new WebClient(app.url).post('/forgot-password', { email: 'altcha@example.test', altcha: await solved(app, 'reset') });
    expect(reset.status, reset.body.toString().slice(0, 400)).to.equal(200);
    // A report, by a guest, on an image a guest uploaded.
    const image = (await uploadWith(app, await solved(app, 'upload'))).json() as { id: string };
    const reporter = new WebClient(app.url);
    expect((await reporter.get(`/report/${image.id}`)).body.toString()).to.include('challenge="/altcha/challenge?action=report"');
    const refused = await reporter.post(`/report/${image.id}`, { reason: 'spam', details: 'Advertising.' });
    expect(refused.status).to.equal(400);
    expect(refused.body.toString()).to.include('Please complete the bot check');
    expect(await app.db('reports')).to.have.length(0);
    const sent = await reporter.post(`/report/${image.id}`, { reason: 'spam', details: 'Advertising.', altcha: await solved(app, 'report') });
    expect(sent.status, sent.body.toString().slice(0, 400)).to.equal(200);
    expect(await app.db('reports')).to.have.length(1);
  });

  it('serves the widget from this server, and the pages load nothing from elsewhere', async () => {
    const home = await rawRequest(`${app.url}/`, { headers: { Accept: 'text/html' } });
    const html = home.body.toString();
    expect(html).to.include('challenge="/altcha/challenge?action=upload"');
    expect(html).not.to.match(/src="https?:\/\//);
    const csp = String(home.headers['content-security-policy']);
    expect(csp).to.include("script-src 'self'");
    expect(csp).not.to.include('cloudflare');
    expect(csp).not.to.match(/script-src[^;]*(blob:|wasm-unsafe-eval|unsafe-eval|unsafe-inline)/);
    for (const file of ['altcha.js', 'altcha.css', 'pbkdf2.js']) {
      const res = await rawRequest(`${app.url}/static/altcha/${file}`);
      expect(res.status, file).to.equal(200);
      expect(res.body.length, file).to.be.greaterThan(1000);
    }
    expect((await rawRequest(`${app.url}/static/altcha/constructor`)).status).to.equal(404);
    expect((await rawRequest(`${app.url}/static/altcha/..%2Fpackage.json`)).status).to.equal(404);
  });

  it('states on /privacy and /subprocessors that the bot check runs here and sends nothing elsewhere', async () => {
    for (const path of ['/privacy', '/subprocessors']) {
      const page = (await rawRequest(`${app.url}${path}`, { headers: { Accept: 'text/html' } })).body.toString();
      expect(page, path).to.include('ALTCHA');
      expect(page, path).not.to.include('Cloudflare');
    }
  });

  it('the hourly expire job purges spent challenges one lifetime after they expire (a replica whose clock is behind still sees them spent), not before', async () => {
    expect((await uploadWith(app, await solved(app, 'upload'))).status).to.equal(201);
    const deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
    expect((await expireSessionsAndTokens.run(deps, new Date(now.getTime() + 11 * MINUTE))).detail, 'expired, but within the margin').to.include({ altchaSpent: 0 });
    expect(await app.db('altcha_spent')).to.have.length(1);
    expect((await expireSessionsAndTokens.run(deps, new Date(now.getTime() + 21 * MINUTE))).detail).to.include({ altchaSpent: 1 });
    expect(await app.db('altcha_spent')).to.have.length(0);
  });
});

describe('ALTCHA across two replicas on one database', function () {
  this.timeout(60_000);
  let other: Db;
  let a: TestApp;
  let b: TestApp;
  before(() => {
    other = createDb({ databaseUrl: testDatabase().databaseUrl, dataDir: testDatabase().dataDir });
  });
  after(async () => {
    await stopImageChangeFeed(other);
    await other.destroy();
  });
  beforeEach(async () => {
    a = await startTestApp(ENV);
    b = await startTestApp(ENV, { db: other });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('a challenge from one replica verifies on the other, and both cannot accept one solution', async () => {
    expect((await uploadWith(b, await solved(a, 'upload'))).status).to.equal(201);
    for (let round = 0; round < 3; round += 1) {
      const answer = await solved(round % 2 ? a : b, 'upload');
      const results = await Promise.all([uploadAnswerFirst(a.url, answer), uploadAnswerFirst(b.url, answer)]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses, results.map((r) => r.body.toString()).join(' | ')).to.deep.equal([201, 403]);
      const refused = results.find((r) => r.status === 403)!;
      expect(refused.json().error.code).to.equal('bot_check_replayed');
    }
    expect(Number((await a.db('images').count({ n: '*' }))[0]!.n)).to.equal(4);
  });
});
