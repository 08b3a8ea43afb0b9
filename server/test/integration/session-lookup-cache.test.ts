import { expect } from 'chai';
import { createRepos, type Repos } from '../../db/repos.js';
import { cookieNames } from '../../http/auth-context.js';
import { SessionLookupCache } from '../../services/session-lookup-cache.js';
import { resumeSessionCached, type SessionsDeps } from '../../services/sessions.service.js';
import { suspendUser } from '../../services/suspension.service.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

/**
 * The image fast path's session lookups for private images, through the per-process cache, against the real
 * database: a burst costs one query, and every way a session ends (or its account stops seeing what it saw) ends
 * the cached answer at once, whether the app's own requests or its services write it.
 */
describe('session lookup cache (private images on the fast path)', () => {
  let app: TestApp;
  let repos: Repos;
  let alice: TestUser;
  let now: Date;
  let deps: SessionsDeps;
  let monotonic: number;
  let cache: SessionLookupCache;
  let queries: string[];
  const onQuery = (q: { sql: string }) => void queries.push(q.sql);

  const cookieOf = (client: WebClient) => client.cookies.get(cookieNames(false).session)!;
  const lookup = (client: WebClient) => resumeSessionCached(deps, cache, cookieOf(client));
  /** Another signed-in browser of the same account. */
  const loginAgain = async (user: TestUser) => {
    const client = new WebClient(app.url);
    const res = await client.post('/login', { login: user.username, password: user.password }, { csrfPage: '/login' });
    expect(res.status).to.equal(303);
    return client;
  };

  beforeEach(async () => {
    app = await startTestApp();
    repos = createRepos(app.db);
    alice = await signedInUser(app, { username: 'alice' });
    now = new Date();
    monotonic = 0;
    deps = { sessions: repos.sessions, users: repos.users, clock: () => now, idleDays: app.config.sessionIdleDays, maxDays: app.config.sessionMaxDays };
    cache = new SessionLookupCache({ now: () => monotonic });
    queries = [];
    app.db.on('query', onQuery);
  });
  afterEach(async () => {
    app.db.off('query', onQuery);
    await app.close();
  });

  it('answers a burst of 120 lookups within the TTL with one query, and asks again once the TTL has passed', async () => {
    const burst = await Promise.all(Array.from({ length: 60 }, () => lookup(alice.client)));
    for (let i = 0; i < 60; i++) burst.push(await lookup(alice.client));
    expect(queries, queries.join('\n')).to.have.length(1);
    expect(queries[0]).to.match(/join/i); // the session and its account in one statement
    expect(new Set(burst.map((v) => v?.userId))).to.deep.equal(new Set([alice.id]));
    expect(cache.size).to.equal(1);

    monotonic += 999;
    await lookup(alice.client);
    expect(queries).to.have.length(1);
    monotonic += 1;
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    expect(queries).to.have.length(2);
  });

  it('holds only whose session it is and until when', async () => {
    const viewer = await lookup(alice.client);
    expect(Object.keys(viewer!).sort()).to.deep.equal(['expiresAt', 'idHash', 'userId']);
  });

  it('answers "no session" at once after a logout', async () => {
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    const cookie = cookieOf(alice.client);
    expect((await alice.client.post('/logout', {}, { csrfPage: '/account/images' })).status).to.equal(303);
    expect(await resumeSessionCached(deps, cache, cookie)).to.equal(null);
  });

  it('answers "no session" at once after one session is revoked, and after "log out everywhere else"', async () => {
    const phone = await loginAgain(alice);
    const tablet = await loginAgain(alice);
    expect((await lookup(phone))?.userId).to.equal(alice.id);
    expect((await lookup(tablet))?.userId).to.equal(alice.id);
    // Revoke exactly the phone's session: the one whose cookie hashes to it.
    const phoneViewer = (await lookup(phone))!;
    const phonePublicId = (await repos.sessions.listForUser(alice.id, now)).find((s) => s.idHash === phoneViewer.idHash)!.publicId;
    expect((await alice.client.post(`/account/sessions/${phonePublicId}/revoke`, {}, { csrfPage: '/account/sessions' })).status).to.equal(303);
    expect(await lookup(phone)).to.equal(null);
    expect((await lookup(tablet))?.userId).to.equal(alice.id);

    expect((await alice.client.post('/account/sessions/revoke-others', {}, { csrfPage: '/account/sessions' })).status).to.equal(303);
    expect(await lookup(tablet)).to.equal(null);
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
  });

  it('answers "no session" at once for the other browsers after a password change that signs them out', async () => {
    const phone = await loginAgain(alice);
    expect((await lookup(phone))?.userId).to.equal(alice.id);
    const res = await alice.client.post(
      '/account/settings/password',
      { current_password: alice.password, new_password: 'a whole new passphrase 42', sign_out_others: 'on' },
      { csrfPage: '/account/settings' },
    );
    expect(res.status).to.equal(303);
    expect(await lookup(phone)).to.equal(null);
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
  });

  it('answers "no session" at once after a suspension (a transaction: again after it commits)', async () => {
    const admin = await signedInUser(app, { username: 'boss' });
    expect(await repos.users.changeRole(admin.id, 'user', 'admin')).to.equal(true);
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    await suspendUser(repos, { user: { id: admin.id, username: 'boss', role: 'admin' }, ip: undefined, userAgent: undefined }, alice.id, 'Spam', now);
    expect(await lookup(alice.client)).to.equal(null);
  });

  it('answers "no session" at once after the account is deleted', async () => {
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    expect(await repos.users.deleteById(alice.id)).to.equal(true);
    expect(await lookup(alice.client)).to.equal(null);
  });

  it('drops a cached answer written while its lookup was under way', async () => {
    const pending = lookup(alice.client);
    await repos.sessions.deleteAllForUser(alice.id);
    await pending; // it may have read the rows before the delete: it must not be kept
    expect(await lookup(alice.client)).to.equal(null);
  });

  it('drops an answer read from another connection while a transaction that ends the session was still open', async () => {
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    let readMeanwhile: unknown = 'not read';
    await repos.transaction(async (tx) => {
      await tx.sessions.deleteAllForUser(alice.id);
      // PostgreSQL: another connection still sees the session until the commit, and the cache may keep that answer.
      // SQLite has one connection, so no reader can run before the commit: there the commit alone is checked.
      if (app.db.dialect === 'postgres') readMeanwhile = (await lookup(alice.client))?.userId;
    });
    if (app.db.dialect === 'postgres') expect(readMeanwhile).to.equal(alice.id);
    expect(await lookup(alice.client)).to.equal(null);
  });

  it('a role change or any other account write starts the cache over; the last_seen touch does not', async () => {
    await lookup(alice.client);
    const viewer = (await lookup(alice.client))!;
    await repos.sessions.touch(viewer.idHash, now, new Date(now.getTime() + 60_000_000));
    queries = [];
    await lookup(alice.client);
    expect(queries, 'a touch keeps the cached answer').to.have.length(0);
    await repos.users.changeRole(alice.id, 'user', 'moderator');
    await lookup(alice.client);
    expect(queries.filter((q) => /join/i.test(q)), 'after a role change the database is asked again').to.have.length(1);
  });

  it('checks the session expiry against the clock on every hit', async () => {
    const viewer = (await lookup(alice.client))!;
    queries = [];
    now = new Date(viewer.expiresAt.getTime() - 1);
    expect((await lookup(alice.client))?.userId).to.equal(alice.id);
    now = new Date(viewer.expiresAt.getTime());
    expect(await lookup(alice.client)).to.equal(null);
    expect(queries, 'the expiry is decided without the database').to.have.length(0);
  });

  it('answers a malformed or unknown cookie with "no session", keeping nothing', async () => {
    expect(await resumeSessionCached(deps, cache, 'not a session')).to.equal(null);
    expect(queries).to.have.length(0);
    expect(await resumeSessionCached(deps, cache, 'A'.repeat(43))).to.equal(null);
    expect(cache.size).to.equal(0);
  });
});
