import { expect } from 'chai';
import { signedInUser } from '../../helpers/accounts.js';
import { startSmtp, linkIn, type TestSmtp } from '../../helpers/smtp.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

describe('accounts: sign-up, verification, login, logout, reset', () => {
  let smtp: TestSmtp;
  let app: TestApp;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    smtp.messages.length = 0;
    app = await startTestApp({ SMTP_URL: smtp.url, MAIL_FROM: 'Pixbin <noreply@pix.test>' });
  });
  afterEach(() => app.close());

  const signup = (client: WebClient, fields: Record<string, string>) =>
    client.post('/signup', { username: 'alice', email: 'alice@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes', ...fields });

  it('signs up, mails a verification link over SMTP, and the link (a POST behind a button) verifies the address once', async () => {
    const client = new WebClient(app.url);
    const res = await signup(client, { marketing: 'yes' });
    expect(res.status).to.equal(200);
    expect(res.body.toString()).to.include('Check your inbox');
    const mail = await smtp.waitFor('alice@example.test', /Confirm your email/);
    expect(mail.from).to.equal('noreply@pix.test');
    expect(mail.html).to.include('<a href=');
    const link = linkIn(mail.text, `${app.url}/verify-email/`);

    const user = await app.db('users').where({ username_key: 'alice' }).first();
    expect(user.password_hash).to.match(/^\$2b\$04\$/);
    expect(user.email_verified_at).to.equal(null);
    const consents = await app.db('consent_log').where({ user_id: user.id }).orderBy('kind');
    expect(consents.map((c: { kind: string; value: string }) => `${c.kind}=${c.value}`)).to.deep.equal(['age=at least 13', 'marketing=granted', 'terms=2026-11-25']);

    const page = await client.get(link);
    expect(page.status).to.equal(200);
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    expect((await app.db('users').where({ id: user.id }).first()).email_verified_at, 'GET alone verifies nothing').to.equal(null);
    const confirm = await client.post(link, {});
    expect(confirm.status).to.equal(200);
    expect((await app.db('users').where({ id: user.id }).first()).email_verified_at).not.to.equal(null);
    const again = await client.post(link, {});
    expect(again.status, 'the token is single use').to.equal(400);
    expect(again.body.toString()).to.include('invalid, has expired or was already used');
  });

  it('gives the same answer when the address already has an account, and mails its owner instead', async () => {
    await signup(new WebClient(app.url), {});
    await smtp.waitFor('alice@example.test', /Confirm/);
    const second = await signup(new WebClient(app.url), { username: 'mallory' });
    expect(second.status).to.equal(200);
    expect(second.body.toString()).to.include('Check your inbox');
    await smtp.waitFor('alice@example.test', /tried to sign up/);
    expect(await app.db('users').where({ username_key: 'mallory' })).to.have.length(0);
  });

  for (const [label, fields, code] of [
    ['a short password', { password: 'short' }, 'password_too_short'],
    ['a common password', { password: 'password123' }, 'password_too_common'],
    ['a 129-character password', { password: 'x'.repeat(129) }, 'password_too_long'],
    ['a bad username', { username: 'no spaces!' }, 'invalid_username'],
    ['a reserved username', { username: 'Admin' }, 'username_taken'],
    ['a bad email', { email: 'not-an-email' }, 'invalid_email'],
    ['no age confirmation', { age: '' }, 'age_not_confirmed'],
    ['terms not accepted', { terms: '' }, 'terms_not_accepted'],
  ] as const) {
    it(`refuses ${label} with 400 ${code}, keeping the other values in the form`, async () => {
      const client = new WebClient(app.url);
      const html = await signup(client, fields);
      expect(html.status).to.equal(400);
      expect(html.body.toString()).to.include('role="alert"');
      expect(html.body.toString()).not.to.include('correct horse');
      const json = await client.post('/signup', { username: 'alice', email: 'alice@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes', ...(fields as Record<string, string>) }, { json: true, csrfPage: '/signup' });
      expect(json.status).to.equal(400);
      expect(json.json().error.code).to.equal(code);
      expect(await app.db('users')).to.have.length(0);
    });
  }

  it('accepts 128-character passwords and counts every byte past bcrypt\'s 72', async () => {
    const long = 'é'.repeat(100) + 'a'.repeat(28); // 228 UTF-8 bytes
    const client = new WebClient(app.url);
    expect((await signup(client, { password: long })).status).to.equal(200);
    const sameFirst72 = 'é'.repeat(100) + 'b'.repeat(28);
    expect((await client.post('/login', { login: 'alice', password: sameFirst72 })).status).to.equal(403);
    expect((await client.post('/login', { login: 'alice', password: long })).status).to.equal(303);
  });

  it('logs in with username or email, rotates the session id, and logs out on the server', async () => {
    const client = new WebClient(app.url);
    await signup(client, {});
    // A session id planted before login (fixation) is not the one issued at login.
    client.cookies.set('pixbin_session', 'A'.repeat(43));
    const login = await client.post('/login', { login: 'ALICE@example.test', password: 'correct horse battery staple' });
    expect(login.status).to.equal(303);
    const cookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []).find((c) => c.startsWith('pixbin_session='))!;
    expect(cookie).to.match(/HttpOnly/i).and.match(/SameSite=Lax/i).and.match(/Path=\//);
    const value = client.cookies.get('pixbin_session')!;
    expect(value).to.match(/^[A-Za-z0-9_-]{43}$/).and.not.equal('A'.repeat(43));
    expect(await app.db('sessions')).to.have.length(1);
    expect(JSON.stringify(await app.db('sessions'))).not.to.include(value);
    expect((await client.get('/')).body.toString()).to.include('Log out alice');

    const logout = await client.post('/logout', {}, { csrfPage: '/' });
    expect(logout.status).to.equal(303);
    expect(await app.db('sessions')).to.have.length(0);
    // Replaying the old cookie gets nowhere.
    const replay = new WebClient(app.url);
    replay.cookies.set('pixbin_session', value);
    expect((await replay.get('/')).body.toString()).not.to.include('Log out');
  });

  it('uses __Host- cookies with Secure when PUBLIC_URL is https', async () => {
    const secure = await startTestApp({ PUBLIC_URL: 'https://pix.example.test' });
    try {
      const client = new WebClient(secure.url);
      await signup(client, {});
      const login = await client.post('/login', { login: 'alice', password: 'correct horse battery staple' });
      expect(login.status).to.equal(303);
      const cookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
      const session = cookies.find((c) => c.startsWith('__Host-pixbin_session='));
      expect(session).to.match(/; Path=\/;/).and.match(/Secure/).and.match(/HttpOnly/).and.match(/SameSite=Lax/);
      expect(session).not.to.match(/Domain=/i);
      expect(client.cookies.has('__Host-pixbin_csrf')).to.equal(true);
      expect((await client.get('/')).body.toString()).to.include('Log out alice');
    } finally {
      await secure.close();
    }
  });

  it('answers a wrong password and an unknown account identically', async () => {
    await signup(new WebClient(app.url), {});
    const wrong = await new WebClient(app.url).post('/login', { login: 'alice', password: 'wrong password here' }, { json: true, csrfPage: '/login' });
    const unknown = await new WebClient(app.url).post('/login', { login: 'nobody', password: 'wrong password here' }, { json: true, csrfPage: '/login' });
    expect(wrong.status).to.equal(403);
    expect(unknown.status).to.equal(403);
    expect(wrong.json()).to.deep.equal(unknown.json());
  });

  it('refuses every auth form without a valid CSRF token, and a token from another session', async () => {
    const client = new WebClient(app.url);
    await signup(client, {});
    for (const path of ['/signup', '/login', '/forgot-password']) {
      const res = await new WebClient(app.url).post(path, { login: 'alice', email: 'alice@example.test', password: 'x' }, { csrf: false, json: true });
      expect(res.status, path).to.equal(403);
      expect(res.json().error.code).to.equal('csrf_failed');
    }
    const other = new WebClient(app.url);
    const foreignToken = await other.csrfFrom('/login');
    const res = await client.post('/login', { login: 'alice', password: 'correct horse battery staple' }, { csrf: foreignToken, json: true });
    expect(res.status).to.equal(403);
  });

  it('resets a forgotten password: one-time link, every session revoked, not logged in', async () => {
    const user = await signedInUser(app, { username: 'bob', email: 'bob@example.test' });
    const other = new WebClient(app.url);
    expect((await other.post('/login', { login: 'bob', password: user.password })).status).to.equal(303);
    expect(await app.db('sessions')).to.have.length(2);

    const ask = await new WebClient(app.url).post('/forgot-password', { email: 'BOB@example.test' });
    expect(ask.body.toString()).to.include('If an account uses that address');
    const unknown = await new WebClient(app.url).post('/forgot-password', { email: 'nobody@example.test' });
    expect(unknown.body.toString().replace(/value="[^"]+"/g, '')).to.equal(ask.body.toString().replace(/value="[^"]+"/g, ''));
    const mail = await smtp.waitFor('bob@example.test', /Reset/);
    const link = linkIn(mail.text, `${app.url}/reset-password/`);

    const browser = new WebClient(app.url);
    expect((await browser.get(link)).status).to.equal(200);
    const weak = await browser.post(link, { password: 'password' });
    expect(weak.status, 'a refused password leaves the link usable').to.equal(400);
    const done = await browser.post(link, { password: 'a brand new passphrase' });
    expect(done.status).to.equal(200);
    expect(await app.db('sessions'), 'every session revoked').to.have.length(0);
    expect(browser.cookies.has('pixbin_session'), 'the reset does not log in').to.equal(false);
    expect((await browser.post(link, { password: 'another new passphrase' }, { csrfPage: '/login' })).status, 'single use').to.equal(400);
    expect((await new WebClient(app.url).post('/login', { login: 'bob', password: user.password })).status).to.equal(403);
    expect((await new WebClient(app.url).post('/login', { login: 'bob', password: 'a brand new passphrase' })).status).to.equal(303);
    expect(smtp.messages.filter((m) => m.to.includes('nobody@example.test'))).to.have.length(0);
  });

  it('refuses an expired reset link', async () => {
    let now = Date.now();
    const clockApp = await startTestApp({ SMTP_URL: smtp.url }, { clock: () => new Date(now) });
    try {
      await signedInUser(clockApp, { username: 'carol', email: 'carol@example.test' });
      await new WebClient(clockApp.url).post('/forgot-password', { email: 'carol@example.test' });
      const link = linkIn((await smtp.waitFor('carol@example.test', /Reset/)).text, `${clockApp.url}/reset-password/`);
      now += 61 * 60_000;
      expect((await new WebClient(clockApp.url).get(link)).status).to.equal(400);
    } finally {
      await clockApp.close();
    }
  });

  it('refuses a verification link after 48 hours, and one sent to an address the account no longer uses', async () => {
    let now = Date.now();
    const clockApp = await startTestApp({ SMTP_URL: smtp.url }, { clock: () => new Date(now) });
    try {
      await new WebClient(clockApp.url).post('/signup', { username: 'gina', email: 'gina@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
      const link = linkIn((await smtp.waitFor('gina@example.test', /Confirm/)).text, `${clockApp.url}/verify-email/`);
      now += 49 * 3600_000;
      expect((await new WebClient(clockApp.url).post(link, {})).status).to.equal(400);

      await new WebClient(clockApp.url).post('/signup', { username: 'hank', email: 'hank@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
      const hankLink = linkIn((await smtp.waitFor('hank@example.test', /Confirm/)).text, `${clockApp.url}/verify-email/`);
      await clockApp.db('users').where({ username_key: 'hank' }).update({ email: 'new@example.test', email_key: 'new@example.test' });
      expect((await new WebClient(clockApp.url).post(hankLink, {})).status).to.equal(400);
      expect((await clockApp.db('users').where({ username_key: 'hank' }).first()).email_verified_at).to.equal(null);
    } finally {
      await clockApp.close();
    }
  });

  it('links sign-up to terms and privacy pages that show the version being accepted', async () => {
    const client = new WebClient(app.url);
    const html = (await client.get('/signup')).body.toString();
    expect(html).to.include('href="/terms"').and.include('href="/privacy"');
    for (const path of ['/terms', '/privacy']) {
      const page = await client.get(path);
      expect(page.status, path).to.equal(200);
      expect(page.body.toString()).to.include('Version 2026-11-25');
    }
    expect((await client.get('/privacy')).body.toString()).to.include('No analytics').and.not.include('Turnstile');
  });

  it('logs in with a 128-character password of emoji (counted in characters everywhere)', async () => {
    const client = new WebClient(app.url);
    const emoji = '😀'.repeat(70);
    expect((await signup(client, { password: emoji })).status).to.equal(200);
    expect((await client.post('/login', { login: 'alice', password: emoji })).status).to.equal(303);
  });

  it('answers a hostile JSON body (objects where strings belong) with a 4xx, never a 500', async () => {
    const client = new WebClient(app.url);
    const token = await client.csrfFrom('/login');
    const body = Buffer.from(JSON.stringify({ _csrf: token, login: { toString: 1 }, password: ['x'] }));
    const res = await client.request('/login', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) }, body });
    expect(res.status).to.equal(403);
    expect(res.body.toString()).to.include('do not match');
  });

  it('voids a pending email-change link when the password is reset', async () => {
    const user = await signedInUser(app, { username: 'ivy', email: 'ivy@example.test' });
    // An intruder who knew the password asks to move the account to their address...
    await user.client.post('/account/settings/email', { email: 'intruder@example.test', current_password: user.password });
    const changeLink = linkIn((await smtp.waitFor('intruder@example.test', /Confirm/)).text, `${app.url}/verify-email/`);
    // ...the owner resets the password...
    await new WebClient(app.url).post('/forgot-password', { email: 'ivy@example.test' });
    const resetLink = linkIn((await smtp.waitFor('ivy@example.test', /Reset/)).text, `${app.url}/reset-password/`);
    expect((await new WebClient(app.url).post(resetLink, { password: 'the owner takes it back' })).status).to.equal(200);
    // ...and the intruder's link no longer works.
    expect((await new WebClient(app.url).post(changeLink, {})).status).to.equal(400);
    expect((await app.db('users').where({ id: user.id }).first()).email).to.equal('ivy@example.test');
  });

  it('writes mail to the log when SMTP_URL is unset', async () => {
    const logApp = await startTestApp();
    try {
      await new WebClient(logApp.url).post('/signup', { username: 'dave', email: 'dave@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
      const deadline = Date.now() + 3000;
      let entry: Record<string, any> | undefined;
      while (!entry && Date.now() < deadline) {
        entry = logApp.logs.find((l) => l.mail);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(entry?.mail.to).to.equal('dave@example.test');
      expect(entry?.mail.text).to.include(`${logApp.url}/verify-email/`);
    } finally {
      await logApp.close();
    }
  });
});
