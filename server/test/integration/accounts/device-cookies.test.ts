import { expect } from 'chai';
import { DEVICE_COOKIE_DAYS } from '../../../services/known-devices.service.js';
import { createRateLimits } from '../../../services/rate-limits.service.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { loggedMailLink } from '../../helpers/logged-mail.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

/**
 * Review of issue 15: device cookies carry their issue time and the account's device epoch under the signature, so
 * the server refuses them after DEVICE_COOKIE_DAYS and once a password change, a reset or signing out everywhere
 * raised the epoch; a browser with a valid one spends only its own budget (not its address's); and rate-limit keys
 * built from what people type are hashes of fixed length, never the text.
 */
const NEW_PASSWORD = 'a brand new password for this account';
const DAY_MS = 24 * 60 * 60 * 1000;

/** What a wrong login from `client` spent: the login rate-limit keys it touched (the table is emptied first). */
async function spentBy(app: TestApp, client: WebClient, login: string): Promise<string[]> {
  await app.db('rate_limits').delete();
  const res = await client.post('/login', { login, password: 'certainly not the password' }, { json: true, csrfPage: '/login' });
  expect(res.status, res.body.toString()).to.equal(403);
  return ((await app.db('rate_limits').pluck('key')) as string[]).filter((k) => k.startsWith('login')).sort();
}

/** A browser that logs in to the account and out again: it keeps only its device cookie. */
async function knownDevice(app: TestApp, user: Pick<TestUser, 'username' | 'password'>): Promise<WebClient> {
  const device = new WebClient(app.url);
  const login = await device.post('/login', { login: user.username, password: user.password }, { json: true, csrfPage: '/login' });
  expect(login.status, login.body.toString()).to.equal(200);
  expect((await device.post('/logout', {}, { json: true, csrfPage: '/' })).status).to.equal(200);
  expect([...device.cookies.keys()]).to.include('pixbin_device').and.not.include('pixbin_session');
  return device;
}

const asKnown = (key: string) => expect(key).to.match(/^loginPerDevice:device:[A-Za-z0-9]{22}$/);
const asUnknown = (keys: string[], userId: string) => expect(keys).to.deep.equal([`loginPerAccount:user:${userId}`, 'loginPerIp:127.0.0.1']);

describe('device cookies can be revoked', function () {
  this.timeout(60_000);
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
  });
  afterEach(() => app.close());

  it('a device cookie stops counting after a password change; the next login gives one that counts', async () => {
    const device = await knownDevice(app, alice);
    const before = await spentBy(app, device, alice.username);
    expect(before).to.have.length(1);
    asKnown(before[0]!);

    // Changed from another session, without signing the others out: the cookies still die.
    const change = await alice.client.post('/account/settings/password', { current_password: alice.password, new_password: NEW_PASSWORD }, { json: true, csrfPage: '/account/settings' });
    expect(change.status, change.body.toString()).to.be.below(400);
    asUnknown(await spentBy(app, device, alice.username), alice.id);
    // The browser that changed it was given a fresh cookie: it stays known.
    asKnown((await spentBy(app, alice.client, alice.username))[0]!);
    // The old cookie value, copied into another browser, is no better.
    const copy = new WebClient(app.url);
    copy.cookies.set('pixbin_device', device.cookies.get('pixbin_device')!);
    asUnknown(await spentBy(app, copy, alice.username), alice.id);

    const again = await device.post('/login', { login: alice.username, password: NEW_PASSWORD }, { json: true, csrfPage: '/login' });
    expect(again.status).to.equal(200);
    const after = await spentBy(app, device, alice.username);
    expect(after).to.have.length(1);
    asKnown(after[0]!);
  });

  it('a password reset revokes every device cookie, as its email says', async () => {
    const device = await knownDevice(app, alice);
    asKnown((await spentBy(app, device, alice.username))[0]!);
    const asker = new WebClient(app.url);
    expect((await asker.post('/forgot-password', { email: alice.email }, { json: true, csrfPage: '/forgot-password' })).status).to.equal(202);
    const link = await loggedMailLink(app.logs, alice.email, `${app.url}/reset-password/`);
    const path = new URL(link).pathname;
    const reset = await asker.post(path, { password: NEW_PASSWORD }, { json: true, csrfPage: path });
    expect(reset.status, reset.body.toString()).to.equal(200);
    asUnknown(await spentBy(app, device, alice.username), alice.id);
  });

  it('signing out every other device revokes every device cookie; the browser that did it gets a fresh one', async () => {
    const device = await knownDevice(app, alice);
    asKnown((await spentBy(app, device, alice.username))[0]!);
    const old = alice.client.cookies.get('pixbin_device');
    const res = await alice.client.post('/account/sessions/revoke-others', {}, { json: true, csrfPage: '/account/sessions' });
    expect(res.status, res.body.toString()).to.be.below(400);
    asUnknown(await spentBy(app, device, alice.username), alice.id);
    expect(alice.client.cookies.get('pixbin_device')).to.be.a('string').and.not.equal(old);
    asKnown((await spentBy(app, alice.client, alice.username))[0]!);
  });

  it('a known browser spends its own budget instead of its address’s: strangers behind the same address cannot block it', async () => {
    const device = await knownDevice(app, alice);
    const bob = await knownDevice(app, await signedInUser(app));
    // A replica of the same site (same database, same signing secret) whose per-address budget is 3.
    const limited = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { loginPerIp: { points: 3 } }) });
    try {
      await limited.db('rate_limits').delete();
      for (let i = 0; i < 3; i += 1) {
        const res = await new WebClient(limited.url).post('/login', { login: `stranger${i}`, password: 'guess' }, { json: true, csrfPage: '/login' });
        expect(res.status, `stranger ${i + 1}`).to.equal(403);
      }
      const blocked = await new WebClient(limited.url).post('/login', { login: alice.username, password: alice.password }, { json: true, csrfPage: '/login' });
      expect(blocked.status).to.equal(429);
      // Another account's device cookie is no pass for alice: that attempt is an unknown browser's.
      const borrowed = new WebClient(limited.url);
      borrowed.cookies.set('pixbin_device', bob.cookies.get('pixbin_device')!);
      expect((await borrowed.post('/login', { login: alice.username, password: alice.password }, { json: true, csrfPage: '/login' })).status).to.equal(429);
      const known = new WebClient(limited.url);
      known.cookies.set('pixbin_device', device.cookies.get('pixbin_device')!);
      const owner = await known.post('/login', { login: alice.username, password: alice.password }, { json: true, csrfPage: '/login' });
      expect(owner.status, owner.body.toString()).to.equal(200);
    } finally {
      await limited.close();
    }
  });
});

describe('device cookies expire on the server', function () {
  this.timeout(60_000);
  let now = Date.now();
  let app: TestApp;
  beforeEach(async () => {
    now = Date.now();
    app = await startTestApp({}, { clock: () => new Date(now) });
  });
  afterEach(() => app.close());

  it(`honours a device cookie for ${DEVICE_COOKIE_DAYS} days after its issue and not after, whatever the browser keeps`, async () => {
    const alice = await signedInUser(app);
    const device = await knownDevice(app, alice);
    now += (DEVICE_COOKIE_DAYS - 1) * DAY_MS;
    asKnown((await spentBy(app, device, alice.username))[0]!);
    now += 2 * DAY_MS;
    asUnknown(await spentBy(app, device, alice.username), alice.id);
  });
});

describe('rate-limit keys from typed text are short hashes', function () {
  this.timeout(60_000);
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(() => app.close());

  it('a 300-character email or login gets a 4xx, and the keys hold no address, login or password in clear', async () => {
    const long = `${'x'.repeat(300 - '@example.test'.length)}@example.test`;
    expect(long).to.have.length(300);
    const client = new WebClient(app.url);
    const signup = await client.post('/signup', { username: 'longmail', email: long, password: 'correct horse battery staple', age: 'yes', terms: 'yes' }, { json: true, csrfPage: '/signup' });
    expect(signup.status, signup.body.toString()).to.equal(400);
    expect(signup.json().error.code).to.equal('invalid_email');
    for (const login of [long, 'y'.repeat(300), 'Hunter2 Typed Into The Login Field']) {
      const res = await client.post('/login', { login, password: 'whatever it is' }, { json: true, csrfPage: '/login' });
      expect(res.status, res.body.toString()).to.equal(403);
      expect(res.json().error.code).to.equal('bad_login');
    }
    const reset = await client.post('/forgot-password', { email: long }, { json: true, csrfPage: '/forgot-password' });
    expect(reset.status, reset.body.toString()).to.equal(400);
    expect(reset.json().error.code).to.equal('invalid_email');
    const okReset = await client.post('/forgot-password', { email: 'Someone@Example.test' }, { json: true, csrfPage: '/forgot-password' });
    expect(okReset.status).to.equal(202);

    const keys = (await app.db('rate_limits').pluck('key')) as string[];
    const typed = keys.filter((k) => /^(signupPerAddress|loginPerAccount|resetPerAccount):/.test(k));
    expect(typed.map((k) => k.split(':')[0]).sort()).to.deep.equal(['loginPerAccount', 'loginPerAccount', 'loginPerAccount', 'resetPerAccount', 'resetPerAccount', 'signupPerAddress']);
    for (const key of typed) expect(key).to.match(/^[A-Za-z]+:(unknown:)?[0-9a-f]{64}$/);
    for (const key of keys) {
      expect(key.length).to.be.at.most(100);
      expect(key.toLowerCase()).not.to.include('example.test').and.not.include('hunter2').and.not.include('xxxx').and.not.include('yyyy');
    }
  });
});
