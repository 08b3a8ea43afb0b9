import { expect } from 'chai';
import { LIMITS } from '../../../services/rate-limits.service.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { until } from '../../helpers/assertions.js';
import { startFakeTurnstile, type FakeTurnstile } from '../../helpers/fake-turnstile.js';
import type { RawResponse } from '../../helpers/http.js';
import { staffUser } from '../../helpers/staff.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

/**
 * Issue 15 item 8: strangers must not be able to lock an account out. Logins and resets spend an account's budget
 * only after the bot check; a browser the account has logged in from (its device cookie) has a budget of its own,
 * and re-authentication inside a session spends that session's budget.
 */
describe('nobody can lock an account out without solving the bot check', function () {
  this.timeout(60_000);
  let fake: FakeTurnstile;
  let app: TestApp;
  let alice: TestUser;
  before(async () => {
    fake = await startFakeTurnstile();
  });
  after(() => fake.close());
  beforeEach(async () => {
    fake.mode = 'ok';
    // The account is made on a replica without the bot check; both replicas share the database and its counters.
    const plain = await startTestApp();
    try {
      alice = await signedInUser(plain, { username: 'alice', email: 'alice@example.test' });
    } finally {
      await plain.close();
    }
    app = await startTestApp({ TURNSTILE_SITE_KEY: '0x4AAAAAAAlockout', TURNSTILE_SECRET_KEY: fake.secret, TURNSTILE_VERIFY_URL: fake.verifyUrl });
  });
  afterEach(() => app.close());

  const token = (action: string) => fake.mint({ action, hostname: '127.0.0.1' });
  const logIn = (client: WebClient, password: string, withToken = true) =>
    client.post('/login', { login: 'alice', password, ...(withToken ? { 'cf-turnstile-response': token('login') } : {}) }, { json: true, csrfPage: '/login' });
  const askReset = (client: WebClient, withToken = true) =>
    client.post('/forgot-password', { email: 'alice@example.test', ...(withToken ? { 'cf-turnstile-response': token('reset') } : {}) }, { json: true, csrfPage: '/forgot-password' });
  const limitKeys = async () => (await app.db('rate_limits').pluck('key')) as string[];
  const deviceCookieOf = (res: RawResponse) => ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('pixbin_device='));
  /** A browser that has logged in to alice's account once and logged out again: it keeps only its device cookie. */
  const knownDevice = async () => {
    const device = new WebClient(app.url);
    expect((await logIn(device, alice.password)).status).to.equal(200);
    expect((await device.post('/logout', {}, { json: true, csrfPage: '/' })).status).to.equal(200);
    expect([...device.cookies.keys()]).to.include('pixbin_device').and.not.include('pixbin_session');
    return device;
  };
  /** Strangers with solved bot checks and wrong passwords, until the account's shared budget is spent. */
  const exhaustUntrustedBudget = async () => {
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      expect((await logIn(new WebClient(app.url), `wrong guess ${i}`)).status, `guess ${i + 1}`).to.equal(403);
    }
  };

  it('token-less login floods spend nothing from the account: the owner logs in with a solved check', async () => {
    const attacker = new WebClient(app.url);
    for (let i = 0; i < 2 * LIMITS.loginPerAccount.points; i += 1) {
      const res = await logIn(attacker, `guess ${i}`, false);
      expect(res.status, `flood ${i + 1}`).to.equal(400);
      expect(res.json().error.code).to.equal('turnstile_missing');
    }
    expect((await limitKeys()).filter((k) => k.startsWith('login'))).to.deep.equal(['loginPerIp:127.0.0.1']);
    const owner = await logIn(new WebClient(app.url), alice.password);
    expect(owner.status, owner.body.toString()).to.equal(200);
    expect(owner.json().user.username).to.equal('alice');
  });

  it('a failed bot check spends nothing from the account either', async () => {
    const attacker = new WebClient(app.url);
    for (let i = 0; i < LIMITS.loginPerAccount.points + 1; i += 1) {
      const res = await attacker.post('/login', { login: 'alice', password: `guess ${i}`, 'cf-turnstile-response': token('signup') }, { json: true, csrfPage: '/login' });
      expect(res.json().error.code).to.equal('turnstile_failed');
    }
    expect((await logIn(new WebClient(app.url), alice.password)).status).to.equal(200);
  });

  it('sets a signed, HttpOnly, long-lived device cookie at login that names nobody in clear', async () => {
    const client = new WebClient(app.url);
    const res = await logIn(client, alice.password);
    expect(res.status).to.equal(200);
    const cookie = deviceCookieOf(res)!;
    expect(cookie).to.match(/HttpOnly/i).and.match(/SameSite=Lax/i).and.match(/Path=\//);
    expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).to.equal(180 * 24 * 3600);
    const value = client.cookies.get('pixbin_device')!;
    expect(value).to.match(/^[A-Za-z0-9]{22}\.[0-9]{1,12}\.[0-9]{1,10}\.[A-Za-z0-9_-]{43}$/);
    expect(value.toLowerCase()).not.to.include('alice');
    expect(value).not.to.include(alice.id);
  });

  it('a known device logs in after strangers with solved checks spend the shared budget; the strangers get a 429 that says why', async () => {
    const device = await knownDevice();
    await exhaustUntrustedBudget();
    const stranger = await logIn(new WebClient(app.url), alice.password);
    expect(stranger.status).to.equal(429);
    expect(stranger.json().error.code).to.equal('rate_limited');
    expect(stranger.json().error.message).to.match(/browsers it has not logged in from/).and.match(/wait \d+ minutes/).and.match(/reset your password/);
    expect(Number(stranger.headers['retry-after'])).to.be.within(60, 15 * 60);

    const owner = await logIn(device, alice.password);
    expect(owner.status, owner.body.toString()).to.equal(200);
    expect((await device.get('/')).body.toString()).to.include('Log out alice');
    // The shared budget stays spent: the owner's success does not hand the strangers new guesses.
    expect((await logIn(new WebClient(app.url), alice.password)).status).to.equal(429);
  });

  it('a known device has a budget of its own, so a stolen device cookie cannot brute-force the password', async () => {
    const device = await knownDevice();
    for (let i = 0; i < LIMITS.loginPerDevice.points; i += 1) {
      expect((await logIn(device, `wrong ${i}`)).status, `attempt ${i + 1}`).to.equal(403);
    }
    const locked = await logIn(device, alice.password);
    expect(locked.status, 'even the right password waits').to.equal(429);
    expect(locked.json().error.code).to.equal('rate_limited');
    const keys = await limitKeys();
    expect(keys.filter((k) => k.startsWith('loginPerDevice:device:'))).to.have.length(1);
    expect(keys).not.to.include(`loginPerAccount:user:${alice.id}`);
    // The device's failures were not the account's: another browser still logs in.
    expect((await logIn(new WebClient(app.url), alice.password)).status).to.equal(200);
  });

  it('treats a forged, changed or other account’s device cookie as an unknown browser', async () => {
    const device = await knownDevice();
    const genuine = device.cookies.get('pixbin_device')!;
    const forged = new WebClient(app.url);
    forged.cookies.set('pixbin_device', `${genuine.slice(0, -10)}${genuine.at(-10) === 'A' ? 'B' : 'A'}${genuine.slice(-9)}`);
    const garbage = new WebClient(app.url);
    garbage.cookies.set('pixbin_device', 'not a device cookie');
    // Bob's genuine cookie says nothing about alice.
    const bob = await logInAs(app, 'bob', token);
    const borrowed = new WebClient(app.url);
    borrowed.cookies.set('pixbin_device', bob.cookies.get('pixbin_device')!);
    for (const [i, client] of [forged, garbage, borrowed].entries()) expect((await logIn(client, `wrong ${i}`)).status).to.equal(403);
    const rows = (await app.db('rate_limits').where({ key: `loginPerAccount:user:${alice.id}` })) as Array<{ points: number }>;
    expect(rows).to.have.length(1);
    expect(Number(rows[0]!.points)).to.equal(3);
  });

  it('token-less reset floods spend nothing from the account: the owner still gets a reset link', async () => {
    const attacker = new WebClient(app.url);
    for (let i = 0; i < LIMITS.resetPerAccount.points + 2; i += 1) {
      const res = await askReset(attacker, false);
      expect(res.status, `flood ${i + 1}`).to.equal(400);
      expect(res.json().error.code).to.equal('turnstile_missing');
    }
    expect((await limitKeys()).filter((k) => k.startsWith('resetPerAccount:'))).to.deep.equal([]);
    expect((await askReset(new WebClient(app.url))).status).to.equal(202);
    await until(async () => (await app.db('email_tokens').where({ user_id: alice.id, purpose: 'reset_password' })).length === 1, 'the reset link');
  });

  it('a known device still asks for a reset after strangers with solved checks spend the address’s budget', async () => {
    const device = await knownDevice();
    for (let i = 0; i < LIMITS.resetPerAccount.points; i += 1) expect((await askReset(new WebClient(app.url))).status).to.equal(202);
    expect((await askReset(new WebClient(app.url))).status).to.equal(429);
    expect((await askReset(device)).status).to.equal(202);
  });
});

/** Signs an account up and logs it in through the bot check; returns the client that holds its cookies. */
async function logInAs(app: TestApp, username: string, token: (action: string) => string): Promise<WebClient> {
  const client = new WebClient(app.url);
  const password = 'correct horse battery staple';
  const signup = await client.post('/signup', { username, email: `${username}@example.test`, password, age: 'yes', terms: 'yes', 'cf-turnstile-response': token('signup') }, { json: true, csrfPage: '/signup' });
  expect(signup.status).to.equal(202);
  const login = await client.post('/login', { login: username, password, 'cf-turnstile-response': token('login') }, { json: true, csrfPage: '/login' });
  expect(login.status).to.equal(200);
  return client;
}

describe('without the bot check: known devices, and re-authentication inside a session', function () {
  this.timeout(60_000);
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(() => app.close());

  const reauthAs = (staff: TestUser, password: string, client = staff.client) => client.post('/admin/reauth', { password, next: '/admin' }, { json: true, csrfPage: '/admin/reauth' });

  it('a staff member re-authenticates after strangers spend the account’s login budget', async () => {
    const admin = await staffUser(app, 'admin');
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      expect((await new WebClient(app.url).post('/login', { login: admin.username, password: `wrong ${i}` }, { json: true, csrfPage: '/login' })).status).to.equal(403);
    }
    expect((await new WebClient(app.url).post('/login', { login: admin.username, password: admin.password }, { json: true, csrfPage: '/login' })).status).to.equal(429);
    const res = await reauthAs(admin, admin.password);
    expect(res.status, res.body.toString()).to.equal(200);
    expect(res.json()).to.deep.equal({ reauthenticated: true });
  });

  it('limits wrong re-auth passwords per session: the session waits, the account and its other sessions do not', async () => {
    const admin = await staffUser(app, 'admin');
    for (let i = 0; i < LIMITS.reauthPerSession.points; i += 1) expect((await reauthAs(admin, `wrong ${i}`)).status, `attempt ${i + 1}`).to.equal(403);
    const locked = await reauthAs(admin, admin.password);
    expect(locked.status).to.equal(429);
    expect(locked.json().error.code).to.equal('rate_limited');
    // Another login to the same account: its session has its own budget, and logging in was never blocked.
    const other = new WebClient(app.url);
    expect((await other.post('/login', { login: admin.username, password: admin.password }, { json: true, csrfPage: '/login' })).status).to.equal(200);
    expect((await reauthAs(admin, admin.password, other)).status).to.equal(200);
  });

  it('without Turnstile, strangers can spend the shared budget but a known device still logs in', async () => {
    const user = await signedInUser(app); // its client logged in once, so it holds the device cookie
    await user.client.post('/logout', {}, { json: true, csrfPage: '/' });
    const attempt = (client: WebClient, password: string) => client.post('/login', { login: user.username, password }, { json: true, csrfPage: '/login' });
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) expect((await attempt(new WebClient(app.url), `wrong ${i}`)).status).to.equal(403);
    expect((await attempt(new WebClient(app.url), user.password)).status).to.equal(429);
    expect((await attempt(user.client, user.password)).status).to.equal(200);
  });

  it('uses a __Host- device cookie with Secure when PUBLIC_URL is https', async () => {
    const secure = await startTestApp({ PUBLIC_URL: 'https://pix.example.test' });
    try {
      const user = await signedInUser(secure);
      const again = await new WebClient(secure.url).post('/login', { login: user.username, password: user.password }, { json: true, csrfPage: '/login' });
      const cookie = ([] as string[]).concat(again.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-pixbin_device='));
      expect(cookie).to.match(/; Path=\/;/).and.match(/Secure/).and.match(/HttpOnly/).and.match(/SameSite=Lax/);
      expect(cookie).not.to.match(/Domain=/i);
    } finally {
      await secure.close();
    }
  });

  it('a wrong current password on the settings and deletion forms spends the session’s budget, not the account’s', async () => {
    const user = await signedInUser(app);
    const email = await user.client.post('/account/settings/email', { email: 'new@example.test', current_password: 'not it at all' }, { json: true, csrfPage: '/account/settings' });
    expect(email.status).to.equal(403);
    const deletion = await user.client.post('/account/settings/delete', { current_password: 'not it either' }, { json: true, csrfPage: '/account/settings' });
    expect(deletion.status).to.equal(403);
    const keys = (await app.db('rate_limits').pluck('key')) as string[];
    expect(keys.filter((k) => k.startsWith('reauthPerSession:'))).to.have.length(1);
    expect(keys).not.to.include(`loginPerAccount:user:${user.id}`);
  });
});
