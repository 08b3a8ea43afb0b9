import { expect } from 'chai';
import { expectJsonError } from '../../helpers/assertions.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

const SESSIONS = '/account/sessions';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const DAY = 24 * 60 * 60 * 1000;

/** Logs an existing account in from a new client that sends the given User-Agent. */
async function loginAs(app: TestApp, user: TestUser, userAgent: string): Promise<WebClient> {
  const client = new WebClient(app.url);
  const token = await client.csrfFrom('/login');
  const body = Buffer.from(new URLSearchParams({ login: user.username, password: user.password, _csrf: token }).toString());
  const res = await client.request('/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length), 'User-Agent': userAgent, Accept: 'text/html' },
    body,
  });
  expect(res.status).to.equal(303);
  return client;
}

type ListedSession = { publicId: string; device: string; createdAt: string; lastSeenAt: string; current: boolean };
const listed = async (client: WebClient): Promise<ListedSession[]> => {
  const res = await client.get(SESSIONS, { Accept: 'application/json' });
  expect(res.status).to.equal(200);
  return res.json().sessions as ListedSession[];
};

describe('account sessions: list and revoke', () => {
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app, { username: 'alice' });
  });
  afterEach(() => app.close());

  it('lists every live session with a readable browser and system, when it started and was last seen, the current one marked', async () => {
    const laptop = await loginAs(app, alice, FIREFOX_WINDOWS);
    await loginAs(app, alice, SAFARI_IPHONE);
    const sessions = await listed(laptop);
    expect(sessions).to.have.length(3);
    const devices = sessions.map((s) => s.device);
    expect(devices).to.include('Firefox 128 on Windows 10');
    expect(devices.some((d) => /^Mobile Safari 17 on iOS 17\.5/.test(d) && d.includes('iPhone')), devices.join(' | ')).to.equal(true);
    expect(devices).to.include('Unknown browser'); // the helper's login sends no User-Agent
    expect(sessions.filter((s) => s.current).map((s) => s.device)).to.deep.equal(['Firefox 128 on Windows 10']);
    for (const s of sessions) expect(Date.parse(s.createdAt)).to.be.at.most(Date.parse(s.lastSeenAt));

    const page = await laptop.get(SESSIONS);
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include('Firefox 128 on Windows 10').and.include('This device').and.match(/Mobile Safari 17 on iOS 17\.5/);
    expect(html.match(/<time datetime="/g)).to.have.length(6);
    expect((await alice.client.get('/account/settings')).body.toString()).to.include(`href="${SESSIONS}"`);
  });

  it('revokes one of your own other sessions, which is then logged out', async () => {
    const phone = await loginAs(app, alice, SAFARI_IPHONE);
    const phoneId = (await listed(phone)).find((s) => s.current)!.publicId;
    const res = await alice.client.post(`${SESSIONS}/${phoneId}/revoke`, {}, { csrfPage: SESSIONS });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal(`${SESSIONS}?done=revoked`);
    expect((await alice.client.get(res.headers.location as string)).body.toString()).to.include('That session was signed out.');
    expect((await phone.get(SESSIONS)).status).to.equal(303);
    expect((await listed(alice.client)).map((s) => s.publicId)).not.to.include(phoneId);
    const [logged] = await app.db('security_log').where({ event: 'account.session_revoked' });
    expect(logged).to.include({ user_id: alice.id });
  });

  it("cannot revoke another user's session: 404, and it lives on", async () => {
    const bob = await signedInUser(app, { username: 'bob' });
    const bobId = (await listed(bob.client))[0]!.publicId;
    const html = await alice.client.post(`${SESSIONS}/${bobId}/revoke`, {}, { csrfPage: SESSIONS });
    expect(html.status).to.equal(404);
    expectJsonError(await alice.client.post(`${SESSIONS}/${bobId}/revoke`, {}, { csrfPage: SESSIONS, json: true }), 404, 'session_not_found');
    expectJsonError(await alice.client.post(`${SESSIONS}/not-a-real-id/revoke`, {}, { csrfPage: SESSIONS, json: true }), 404, 'session_not_found');
    expect((await bob.client.get(SESSIONS)).status).to.equal(200);
    expect(await app.db('sessions')).to.have.length(2);
    // revoke-others acts on your own sessions only.
    expect((await alice.client.post(`${SESSIONS}/revoke-others`, {}, { csrfPage: SESSIONS, json: true })).json().ok).to.equal(true);
    expect((await bob.client.get(SESSIONS)).status).to.equal(200);
  });

  it('revoking the current session logs you out', async () => {
    const ownId = (await listed(alice.client))[0]!.publicId;
    const res = await alice.client.post(`${SESSIONS}/${ownId}/revoke`, {}, { csrfPage: SESSIONS });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/login');
    expect(alice.client.cookies.has('pixbin_session')).to.equal(false);
    expect(await app.db('sessions')).to.have.length(0);
  });

  it('revoke-others signs out every other session and keeps this one', async () => {
    const phone = await loginAs(app, alice, SAFARI_IPHONE);
    const laptop = await loginAs(app, alice, FIREFOX_WINDOWS);
    const res = await laptop.post(`${SESSIONS}/revoke-others`, {}, { csrfPage: SESSIONS });
    expect(res.status).to.equal(303);
    expect((await phone.get(SESSIONS)).status).to.equal(303);
    expect((await alice.client.get(SESSIONS)).status).to.equal(303);
    const left = await listed(laptop);
    expect(left.map((s) => s.current)).to.deep.equal([true]);
    const [logged] = await app.db('security_log').where({ event: 'account.sessions_revoked' });
    expect(JSON.parse(String(logged.detail))).to.deep.equal({ count: 2 });
  });

  it('refuses revocations without a CSRF token and guests, revoking nothing', async () => {
    const phone = await loginAs(app, alice, SAFARI_IPHONE);
    const phoneId = (await listed(phone)).find((s) => s.current)!.publicId;
    expectJsonError(await alice.client.post(`${SESSIONS}/${phoneId}/revoke`, {}, { csrf: false, json: true }), 403, 'csrf_failed');
    expectJsonError(await alice.client.post(`${SESSIONS}/revoke-others`, {}, { csrf: false, json: true }), 403, 'csrf_failed');
    expect((await alice.client.post(`${SESSIONS}/revoke-others`, {}, { csrf: false })).status).to.equal(403);
    const guest = new WebClient(app.url);
    expectJsonError(await guest.post(`${SESSIONS}/${phoneId}/revoke`, {}, { csrf: false, json: true }), 401, 'login_required');
    expectJsonError(await guest.get(SESSIONS, { Accept: 'application/json' }), 401, 'login_required');
    const page = await guest.get(SESSIONS);
    expect(page.status).to.equal(303);
    expect(page.headers.location).to.equal('/login');
    expect(await app.db('sessions').where({ user_id: alice.id })).to.have.length(2);
  });
});

describe('account sessions: expiry (idle 90 days, at most 180)', () => {
  let now: Date;
  let app: TestApp;
  beforeEach(async () => {
    now = new Date('2027-01-01T12:00:00Z');
    app = await startTestApp({}, { clock: () => now });
  });
  afterEach(() => app.close());
  const advance = (days: number) => {
    now = new Date(now.getTime() + days * DAY);
  };
  const alive = async (client: WebClient) => (await client.get(SESSIONS)).status === 200;

  it('a session used every 30 days outlives 90 days but not 180', async () => {
    const { client } = await signedInUser(app);
    for (let day = 30; day <= 150; day += 30) {
      advance(30);
      expect(await alive(client), `day ${day}`).to.equal(true);
    }
    advance(29); // day 179
    expect(await alive(client), 'day 179').to.equal(true);
    advance(1); // day 180: the absolute limit, however recently it was used
    expect(await alive(client), 'day 180').to.equal(false);
  });

  it('a session idle for 91 days is gone, and one idle for 89 days is not', async () => {
    const idle = await signedInUser(app);
    const recent = await signedInUser(app);
    advance(89);
    expect(await alive(recent.client)).to.equal(true);
    advance(2);
    expect(await alive(idle.client)).to.equal(false);
    expect(await alive(recent.client), 'touched at day 89, so good until day 179').to.equal(true);
  });

  it('expired sessions are not listed', async () => {
    const user = await signedInUser(app);
    const forgotten = await loginAs(app, user, FIREFOX_WINDOWS); // never used again
    const daily = await loginAs(app, user, SAFARI_IPHONE);
    expect(await listed(daily)).to.have.length(3);
    for (let i = 0; i < 3; i += 1) {
      advance(30);
      await listed(daily);
    }
    advance(1); // day 91: the two idle ones expired
    const left = await listed(daily);
    expect(left.map((s) => s.device)).to.have.length(1);
    expect(left[0]!.device).to.match(/^Mobile Safari/);
    expect(left[0]!.lastSeenAt).to.equal(now.toISOString());
    expect(await alive(forgotten)).to.equal(false);
    expect(await alive(user.client)).to.equal(false);
  });
});
