import { expect } from 'chai';
import { expectJsonError, until } from '../../helpers/assertions.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { linkIn, startSmtp, type TestSmtp } from '../../helpers/smtp.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

const SETTINGS = '/account/settings';
const NEW_PASSWORD = 'a brand new passphrase 42';

describe('account settings: username, email, password, marketing consent', () => {
  let smtp: TestSmtp;
  let app: TestApp;
  let alice: TestUser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    app = await startTestApp({ SMTP_URL: smtp.url });
    alice = await signedInUser(app, { username: 'alice', email: 'alice@example.test', confirmed: false });
    await smtp.waitFor('alice@example.test', /Confirm/); // the sign-up mail, out of the way
    smtp.messages.length = 0;
  });
  afterEach(() => app.close());

  const userRow = async (id: string) => (await app.db('users').where({ id }).first()) as Record<string, unknown>;
  const events = async (event: string) => (await app.db('security_log').where({ event })) as Array<Record<string, unknown>>;
  const post = (user: TestUser, path: string, fields: Record<string, string>, json = false) =>
    user.client.post(`${SETTINGS}${path}`, fields, { csrfPage: SETTINGS, json });

  it('shows the username, the address and whether it is confirmed, with a link to the sessions page; JSON too', async () => {
    const page = await alice.client.get(SETTINGS);
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include('value="alice"').and.include('alice@example.test').and.include('Not confirmed').and.include('Send the link again');
    expect(html).to.include('href="/account/sessions"');
    const json = await alice.client.get(SETTINGS, { Accept: 'application/json' });
    expect(json.json().user).to.deep.equal({ id: alice.id, username: 'alice', email: 'alice@example.test', emailVerified: false, marketingConsent: false });
  });

  it('sends guests to /login (HTML) or answers 401 (JSON), on every page and form', async () => {
    const guest = new WebClient(app.url);
    const page = await guest.get(SETTINGS);
    expect(page.status).to.equal(303);
    expect(page.headers.location).to.equal('/login');
    expectJsonError(await guest.get(SETTINGS, { Accept: 'application/json' }), 401, 'login_required');
    for (const path of ['/username', '/email', '/password', '/marketing', '/verification']) {
      const res = await guest.post(`${SETTINGS}${path}`, { username: 'guest' }, { csrf: false, json: true });
      expectJsonError(res, 401, 'login_required');
    }
  });

  it('refuses every form without a CSRF token (403 csrf_failed) and changes nothing', async () => {
    const before = await userRow(alice.id);
    const forms: Array<[string, Record<string, string>]> = [
      ['/username', { username: 'mallory' }],
      ['/email', { email: 'mallory@example.test', current_password: alice.password }],
      ['/password', { current_password: alice.password, new_password: NEW_PASSWORD, sign_out_others: 'yes' }],
      ['/marketing', { marketing: 'yes' }],
      ['/verification', {}],
    ];
    for (const [path, fields] of forms) {
      expectJsonError(await alice.client.post(`${SETTINGS}${path}`, fields, { csrf: false, json: true }), 403, 'csrf_failed');
      const html = await alice.client.post(`${SETTINGS}${path}`, fields, { csrf: false });
      expect(html.status, path).to.equal(403);
    }
    // A token minted for another session is no better.
    const bob = await signedInUser(app, { confirmed: false });
    const foreign = await bob.client.csrfFrom(SETTINGS);
    expectJsonError(await alice.client.post(`${SETTINGS}/username`, { username: 'mallory' }, { csrf: foreign, json: true }), 403, 'csrf_failed');
    expect(await userRow(alice.id)).to.deep.equal(before);
    expect(await app.db('consent_log').where({ user_id: alice.id, kind: 'marketing' })).to.have.length(1);
    expect(await app.db('sessions').where({ user_id: alice.id })).to.have.length(1);
    // Bob asks for his link again: that mail is sent after any the refused forms could have sent, so once it is
    // in and the SMTP server is idle, theirs would be in too.
    expect((await post(bob, '/verification', {})).status).to.equal(303);
    await until(() => smtp.messages.filter((m) => m.to.includes(bob.email)).length === 2, "Bob's sign-up and re-sent mails");
    await smtp.idle();
    expect(smtp.messages.filter((m) => !m.to.includes(bob.email))).to.deep.equal([]);
  });

  describe('username', () => {
    it('changes it, logs the change with the client address, and shows it in the header', async () => {
      const res = await post(alice, '/username', { username: 'alice_2' });
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal(`${SETTINGS}?done=username`);
      expect((await userRow(alice.id)).username).to.equal('alice_2');
      const page = (await alice.client.get(res.headers.location as string)).body.toString();
      expect(page).to.include('Your username was changed.').and.include('Log out alice_2');
      const [logged] = await events('account.username_changed');
      expect(logged).to.include({ user_id: alice.id, ip: '127.0.0.1' });
      expect(JSON.parse(String(logged!.detail))).to.deep.equal({ from: 'alice', to: 'alice_2' });
    });

    it('allows changing only the case of your own name', async () => {
      expect((await post(alice, '/username', { username: 'Alice' }, true)).status).to.equal(200);
      expect(await userRow(alice.id)).to.include({ username: 'Alice', username_key: 'alice' });
    });

    it('refuses a taken name (in any case) with 400 username_taken, in the page and as JSON, changing nothing', async () => {
      await signedInUser(app, { username: 'bob' });
      const html = await post(alice, '/username', { username: 'BOB' });
      expect(html.status).to.equal(400);
      const body = html.body.toString();
      expect(body).to.include('role="alert"').and.include('That username is taken').and.include('value="BOB"');
      expectJsonError(await post(alice, '/username', { username: 'bob' }, true), 400, 'username_taken');
      expectJsonError(await post(alice, '/username', { username: 'no spaces!' }, true), 400, 'invalid_username');
      expectJsonError(await post(alice, '/username', { username: 'admin' }, true), 400, 'username_taken');
      expect((await userRow(alice.id)).username).to.equal('alice');
      expect(await events('account.username_changed')).to.have.length(0);
    });
  });

  describe('email address', () => {
    it('needs the current password: a wrong one is 403 wrong_password and changes nothing', async () => {
      const html = await post(alice, '/email', { email: 'new@example.test', current_password: 'not my password' });
      expect(html.status).to.equal(403);
      expect(html.body.toString()).to.include('Your current password is not correct').and.include('value="new@example.test"').and.not.include('not my password');
      expectJsonError(await post(alice, '/email', { email: 'new@example.test', current_password: '' }, true), 403, 'wrong_password');
      expect((await userRow(alice.id)).email).to.equal('alice@example.test');
      expect(await events('account.reauth_failed')).to.have.length(2);
    });

    it('keeps the current address until the link mailed to the new one is followed, then switches to it confirmed', async () => {
      await app.db('users').where({ id: alice.id }).update({ email_verified_at: new Date() });
      const res = await post(alice, '/email', { email: 'Alice.New@example.test', current_password: alice.password });
      expect(res.status).to.equal(303);
      expect(await userRow(alice.id), 'nothing changes before confirmation').to.include({ email: 'alice@example.test', email_key: 'alice@example.test' });
      expect(await events('account.email_change_requested')).to.have.length(1);
      const mail = await smtp.waitFor('Alice.New@example.test', /Confirm your email/);
      expect(smtp.messages.filter((m) => m.to.includes('alice@example.test'))).to.have.length(0);
      const page = (await alice.client.get(`${SETTINGS}?done=email`)).body.toString();
      expect(page).to.include('Check the inbox of the new address').and.include('alice@example.test');
      const link = linkIn(mail.text, `${app.url}/verify-email/`);
      expect((await alice.client.post(link, {})).status).to.equal(200);
      const after = await userRow(alice.id);
      expect(after).to.include({ email: 'Alice.New@example.test', email_key: 'alice.new@example.test' });
      expect(after.email_verified_at).not.to.equal(null);
      expect((await alice.client.get(SETTINGS)).body.toString()).to.include('Confirmed').and.not.include('Send the link again');
      expect((await alice.client.post(link, {})).status, 'single use').to.equal(400);
    });

    it('does not switch to an address another account took while the link was pending', async () => {
      await post(alice, '/email', { email: 'contested@example.test', current_password: alice.password });
      const link = linkIn((await smtp.waitFor('contested@example.test', /Confirm/)).text, `${app.url}/verify-email/`);
      await signedInUser(app, { username: 'quick', email: 'contested@example.test' });
      const res = await alice.client.post(link, {}, { json: true });
      expectJsonError(res, 400, 'email_taken');
      expect((await userRow(alice.id)).email).to.equal('alice@example.test');
    });

    it("answers an address another account uses exactly like a free one, changes nothing and mails no one", async () => {
      const bob = await signedInUser(app, { username: 'bob', email: 'bob@example.test' });
      await smtp.waitFor('bob@example.test', /Confirm/);
      smtp.messages.length = 0;
      const taken = await post(alice, '/email', { email: 'BOB@example.test', current_password: alice.password }, true);
      const free = await post(bob, '/email', { email: 'bob2@example.test', current_password: bob.password }, true);
      expect(taken.status).to.equal(200);
      expect(taken.json()).to.deep.equal(free.json());
      await smtp.waitFor('bob2@example.test', /Confirm/);
      await smtp.idle(); // a mail for the first request would have been on its way before this one
      expect(smtp.messages.map((m) => m.to)).to.deep.equal([['bob2@example.test']]);
      expect((await userRow(alice.id)).email).to.equal('alice@example.test');
      expect(await events('account.email_change_ignored')).to.have.length(1);
    });

    it('refuses a malformed address with 400 invalid_email', async () => {
      expectJsonError(await post(alice, '/email', { email: 'not-an-address', current_password: alice.password }, true), 400, 'invalid_email');
      expect((await userRow(alice.id)).email).to.equal('alice@example.test');
    });

    it('re-sends the confirmation link, at most three times an hour, and not once the address is confirmed', async () => {
      const res = await post(alice, '/verification', {});
      expect(res.status).to.equal(303);
      const mail = await smtp.waitFor('alice@example.test', /Confirm your email/);
      expect(mail.text).to.include(`${app.url}/verify-email/`);
      expect((await post(alice, '/verification', {}, true)).status).to.equal(200);
      expect((await post(alice, '/verification', {}, true)).status).to.equal(200);
      const limited = await post(alice, '/verification', {}, true);
      expectJsonError(limited, 429, 'rate_limited');
      expect(limited.headers['retry-after']).to.match(/^\d+$/);
      await app.db('users').where({ id: alice.id }).update({ email_verified_at: new Date() });
      const bobUser = await signedInUser(app);
      expectJsonError(await post(bobUser, '/verification', {}, true), 400, 'already_verified');
    });
  });

  describe('password', () => {
    const loginWorks = async (login: string, password: string) => (await new WebClient(app.url).post('/login', { login, password })).status === 303;

    it('changes it and, by default, signs out the other sessions but keeps this one', async () => {
      const phone = new WebClient(app.url);
      expect((await phone.post('/login', { login: 'alice', password: alice.password })).status).to.equal(303);
      const res = await post(alice, '/password', { current_password: alice.password, new_password: NEW_PASSWORD, sign_out_others: 'yes' });
      expect(res.status).to.equal(303);
      expect((await alice.client.get(res.headers.location as string)).body.toString()).to.include('your other devices were signed out');
      expect((await phone.get(SETTINGS)).status, 'the other session is gone').to.equal(303);
      expect((await alice.client.get(SETTINGS)).status, 'this session stays').to.equal(200);
      expect((await userRow(alice.id)).password_hash).to.match(/^\$2b\$04\$/);
      const [logged] = await events('account.password_changed');
      expect(JSON.parse(String(logged!.detail))).to.deep.equal({ signedOutOthers: 1 });
      expect(await loginWorks('alice', alice.password)).to.equal(false);
      expect(await loginWorks('alice', NEW_PASSWORD)).to.equal(true);
    });

    it('keeps the other sessions when the box is unticked', async () => {
      const phone = new WebClient(app.url);
      await phone.post('/login', { login: 'alice', password: alice.password });
      expect((await post(alice, '/password', { current_password: alice.password, new_password: NEW_PASSWORD }, true)).status).to.equal(200);
      expect((await phone.get(SETTINGS)).status).to.equal(200);
    });

    it('needs the current password and a good new one; nothing changes otherwise', async () => {
      const before = (await userRow(alice.id)).password_hash;
      const html = await post(alice, '/password', { current_password: 'wrong', new_password: NEW_PASSWORD, sign_out_others: 'yes' });
      expect(html.status).to.equal(403);
      expect(html.body.toString()).to.include('Your current password is not correct').and.not.include(NEW_PASSWORD);
      expectJsonError(await post(alice, '/password', { current_password: alice.password, new_password: 'password123' }, true), 400, 'password_too_common');
      expectJsonError(await post(alice, '/password', { current_password: alice.password, new_password: 'short' }, true), 400, 'password_too_short');
      expectJsonError(await post(alice, '/password', { current_password: alice.password, new_password: 'alice' + 'x'.repeat(124) }, true), 400, 'password_too_long');
      expect((await userRow(alice.id)).password_hash).to.equal(before);
      expect(await events('account.password_changed')).to.have.length(0);
    });

    it('rate-limits wrong current passwords per session: after ten, even the right one waits in that session', async () => {
      for (let i = 0; i < 10; i += 1) expectJsonError(await post(alice, '/password', { current_password: `guess ${i}`, new_password: NEW_PASSWORD }, true), 403, 'wrong_password');
      expectJsonError(await post(alice, '/password', { current_password: alice.password, new_password: NEW_PASSWORD }, true), 429, 'rate_limited');
      expectJsonError(await post(alice, '/email', { email: 'x@example.test', current_password: alice.password }, true), 429, 'rate_limited');
      // Only the session's holder can spend its budget, and spending it blocks no login (issue 15 item 8): the
      // login form has budgets of its own, per browser and per account.
      expect(await loginWorks('alice', alice.password)).to.equal(true);
      // Another account is not affected.
      const bob = await signedInUser(app);
      expect((await post(bob, '/password', { current_password: bob.password, new_password: NEW_PASSWORD }, true)).status).to.equal(200);
    });
  });

  describe('marketing consent', () => {
    it('is off by default; each change is a consent_log row with its time, shown as history', async () => {
      expect((await userRow(alice.id)).marketing_consent).to.be.oneOf([false, 0]);
      expect((await alice.client.get(SETTINGS)).body.toString()).not.to.match(/id="marketing"[^>]*checked/);

      const on = await post(alice, '/marketing', { marketing: 'yes' });
      expect(on.status).to.equal(303);
      expect(Boolean((await userRow(alice.id)).marketing_consent)).to.equal(true);
      const same = await post(alice, '/marketing', { marketing: 'yes' }, true);
      expect(same.json().message).to.include('did not change');
      expect((await post(alice, '/marketing', {}, true)).json().message).to.include('no longer');
      expect(Boolean((await userRow(alice.id)).marketing_consent)).to.equal(false);

      const rows = (await app.db('consent_log').where({ user_id: alice.id, kind: 'marketing' }).orderBy('created_at')) as Array<{ value: string; created_at: unknown }>;
      expect(rows.map((r) => r.value)).to.deep.equal(['declined', 'granted', 'withdrawn']);
      expect(await events('account.marketing_consent_changed')).to.have.length(2);

      const html = (await alice.client.get(SETTINGS)).body.toString();
      const table = /<table[^]*?<\/table>/.exec(html)![0];
      expect(table.match(/<tr><td><time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time><\/td><td>(\w+)<\/td><\/tr>/g)).to.have.length(3);
      expect(table.indexOf('withdrawn')).to.be.lessThan(table.indexOf('granted'));
      const json = (await alice.client.get(SETTINGS, { Accept: 'application/json' })).json();
      expect(json.marketingHistory.map((e: { value: string }) => e.value)).to.deep.equal(['withdrawn', 'granted', 'declined']);
    });
  });
});
