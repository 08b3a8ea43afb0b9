import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { recordPrivacyRequest } from '../../services/privacy-requests.service.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest } from '../helpers/http.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';
import { unzip } from '../helpers/zip.js';

const DAY = 86_400_000;
const json = { Accept: 'application/json' };

describe('admin: users pages and the privacy-request export tool', function () {
  this.timeout(60_000);
  let smtp: TestSmtp;
  let app: TestApp;
  let admin: TestUser;
  let moderator: TestUser;
  let target: TestUser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    app = await startTestApp({ SMTP_URL: smtp.url, REPEAT_INFRINGER_WINDOW_DAYS: '30' });
    admin = await staffUser(app, 'admin');
    moderator = await staffUser(app, 'moderator');
    target = await signedInUser(app, { username: `Zed_Target${Date.now() % 10000}`, email: `zed.t${Date.now() % 10000}@mail.example.test` });
  });
  afterEach(() => app.close());

  const act = (user: TestUser, action: string, fields: Record<string, string> = {}, id = target.id) =>
    user.client.post(`/admin/users/${id}/${action}`, fields, { csrfPage: '/admin', json: true });
  const audit = async (action: string) => (await app.db('audit_log').where({ action, actor_id: admin.id })) as Array<{ target_id: string; reason: string | null; detail: string }>;
  const logIn = async (user: TestUser) => {
    const client = new WebClient(app.url);
    const res = await client.post('/login', { login: user.username, password: user.password });
    return { client, res };
  };

  it('searches by part of the username or the email, case-insensitively, with wildcards taken literally', async () => {
    const find = async (q: string) => ((await admin.client.get(`/admin/users?q=${encodeURIComponent(q)}`, json)).json().users as Array<{ id: string }>).map((u) => u.id);
    expect(await find('zed_TAR')).to.deep.equal([target.id]);
    expect(await find('@mail.EXAMPLE')).to.deep.equal([target.id]);
    expect(await find('%')).to.deep.equal([]);
    expect(await find('nobody-like-this')).to.deep.equal([]);
    expect(await find('')).to.include.members([admin.id, moderator.id, target.id]);
    const listed = await admin.client.get('/admin/users', json);
    expect(listed.body.toString(), 'no password hash in the list').not.to.include('$2b$').and.not.include('passwordHash');
    const page = await admin.client.get(`/admin/users?q=zed_t`);
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include(`href="/admin/users/${target.id}"`).and.include(target.email).and.include('active');
    // A long query is cut, not refused; an odd page number falls back to the first.
    expect((await admin.client.get(`/admin/users?q=${'x'.repeat(5000)}&page=-3`)).status).to.equal(200);
  });

  it('the profile shows uploads, storage, reports, strikes, sessions and public images', async () => {
    const image = (await ownerUpload(target, await fixtures.png())).json();
    const second = (await ownerUpload(target, await fixtures.png())).json();
    await app.db('images').where({ id: image.id }).update({ visibility: 'public' });
    const now = Date.now();
    const report = (status: string, fields: Record<string, unknown>) => ({ id: randomUUID(), image_id: image.id, reason: 'copyright', status, created_at: new Date(now - 2 * DAY), ...fields });
    await app.db('reports').insert([
      report('open', {}),
      report('actioned', { owner_id: target.id, resolution: 'hide', resolved_at: new Date(now - DAY) }),
      report('actioned', { owner_id: target.id, resolution: 'hide', resolved_at: new Date(now - 2 * DAY), image_id: second.id }),
      // A second notice about an image already counted is not a second strike.
      report('actioned', { owner_id: target.id, resolution: 'hide', resolved_at: new Date(now - 2 * DAY) }),
      report('actioned', { owner_id: target.id, resolution: 'hide', resolved_at: new Date(now - 60 * DAY) }), // outside the 30-day window
      report('dismissed', { owner_id: target.id, reason: 'spam', resolved_at: new Date(now - DAY) }),
    ]);
    const profile = (await admin.client.get(`/admin/users/${target.id}`, json)).json();
    expect(profile.uploads).to.equal(2);
    expect(profile.usage.used).to.be.greaterThan(100);
    expect(profile.usage.used).to.equal((await app.db('users').where({ id: target.id }).first()).used_bytes);
    expect(profile.reports).to.deep.equal({ open: 1, total: 6 });
    expect(profile.strikes).to.deep.equal({ count: 2, threshold: 3, windowDays: 30 });
    expect(profile.sessions).to.equal(1);
    expect(profile.status).to.equal('active');
    expect(profile.user).not.to.have.property('passwordHash');
    const page = await admin.client.get(`/admin/users/${target.id}`);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include('id="user-strikes">2 in the last 30 days').and.include(`href="/i/${image.id}"`);
    // Hostile or unknown ids are a plain 404.
    for (const id of ['nope', 'A'.repeat(16), '../../admin', `${target.id}x`]) expect((await admin.client.get(`/admin/users/${encodeURIComponent(id)}`)).status, id).to.equal(404);
    expect((await act(admin, 'suspend', { reason: '' }, 'A'.repeat(16))).status).to.equal(404);
  });

  it('suspend: the session stops working and login shows the reason; unsuspend lets them back in', async () => {
    expectJsonError(await act(admin, 'suspend', { reason: ' ' }), 400, 'reason_required');
    expect((await act(admin, 'suspend', { reason: 'Spamming links' })).status).to.equal(200);
    expect((await target.client.get('/account/images')).headers.location).to.equal('/login');
    const refused = await logIn(target);
    expect(refused.res.status).to.equal(403);
    expect(refused.res.body.toString()).to.include('Spamming links');
    expect((await admin.client.get(`/admin/users/${target.id}`)).body.toString()).to.include('Spamming links');
    expect((await admin.client.get(`/admin/users?q=${target.username}`)).body.toString()).to.include('suspended');
    expectJsonError(await act(admin, 'suspend', { reason: 'me' }, admin.id), 400, 'cannot_suspend_self');

    expect((await act(admin, 'unsuspend', { reason: 'Appeal accepted' })).status).to.equal(200);
    expect((await logIn(target)).res.status).to.equal(303);
    expect((await audit('user.suspend'))[0]).to.include({ target_id: target.id, reason: 'Spamming links' });
    expect((await audit('user.unsuspend'))[0]).to.include({ target_id: target.id, reason: 'Appeal accepted' });
    // The HTML form answers with a redirect back to the profile.
    const form = await admin.client.post(`/admin/users/${target.id}/suspend`, { reason: 'Again' }, { csrfPage: `/admin/users/${target.id}` });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.equal(`/admin/users/${target.id}`);
  });

  it('quota: a size like "1 KB" is enforced on the next upload; empty means the default; nonsense is a 400', async () => {
    expect(expectJsonError(await act(admin, 'quota', { quota: 'lots' }), 400, 'bad_quota')).to.include('500 MB');
    expect((await act(admin, 'quota', { quota: '1 KB' })).json()).to.deep.equal({ quotaBytes: 1024 });
    expectJsonError(await ownerUpload(target, await fixtures.png()), 413, 'quota_exceeded');
    expect((await act(admin, 'quota', { quota: '' })).json()).to.deep.equal({ quotaBytes: null });
    expect((await ownerUpload(target, await fixtures.png())).status).to.equal(201);
    expect((await audit('user.quota')).map((e) => JSON.parse(e.detail).quotaBytes)).to.have.members([1024, null]);
  });

  it('sign out everywhere ends every session; they can sign in again', async () => {
    const second = await logIn(target);
    const res = await act(admin, 'sign-out');
    expect(res.json()).to.deep.equal({ sessionsEnded: 2 });
    for (const client of [target.client, second.client]) expect((await client.get('/account/images')).headers.location).to.equal('/login');
    expect((await logIn(target)).res.status).to.equal(303);
    expect(JSON.parse((await audit('user.sign_out'))[0]!.detail)).to.deep.equal({ sessions: 2 });
  });

  it('delete needs a fresh password and starts the grace period the holder would get', async () => {
    const image = (await ownerUpload(target, await fixtures.png())).json();
    expectJsonError(await act(admin, 'delete', { reason: 'Asked by letter' }), 403, 'reauth_required');
    expect((await app.db('users').where({ id: target.id }).first()).deletion_requested_at).to.equal(null);
    await reauth(admin);
    const res = await act(admin, 'delete', { reason: 'Asked by letter' });
    expect(res.status).to.equal(200);
    expect(res.json().deletionRequested).to.equal(true);
    expect((await app.db('users').where({ id: target.id }).first()).deletion_requested_at).not.to.equal(null);
    expect(await app.db('sessions').where({ user_id: target.id })).to.deep.equal([]);
    expect((await rawRequest(image.url)).status).to.equal(404);
    await smtp.waitFor(target.email, /will be deleted/);
    expect((await audit('user.delete'))[0]).to.include({ target_id: target.id, reason: 'Asked by letter' });
    // The staff member's address is in the audit trail, not in the holder's own records.
    expect((await app.db('security_log').where({ user_id: target.id, event: 'account.deletion_requested' }).first()).ip).to.equal(null);
    expect((await admin.client.get(`/admin/users/${target.id}`, json)).json().status).to.equal('pending deletion');
    // Not on oneself, and not on another admin.
    const other = await staffUser(app, 'admin');
    expectJsonError(await act(admin, 'delete', {}, admin.id), 400, 'cannot_target_self');
    expectJsonError(await act(admin, 'delete', {}, other.id), 403, 'admin_target');
  });

  it('purge needs a fresh password, erases the account now, and the audit entry keeps neither name nor address', async () => {
    await ownerUpload(target, await fixtures.png());
    expectJsonError(await act(admin, 'purge', { reason: 'x' }), 403, 'reauth_required');
    const form = await admin.client.post(`/admin/users/${target.id}/purge`, {}, { csrfPage: `/admin/users/${target.id}` });
    expect(form.status, 'the browser is asked for the password, the action held').to.equal(200);
    expect(form.body.toString()).to.include(`action="/admin/users/${target.id}/purge"`).and.include('name="reauth_password"');
    expect(await app.db('users').where({ id: target.id })).to.have.length(1);
    await reauth(admin);
    const res = await act(admin, 'purge', { reason: `Erasure asked by ${target.username} from ${target.email.toUpperCase()}` });
    expect(res.json()).to.deep.equal({ purged: true });
    expect(await app.db('users').where({ id: target.id })).to.deep.equal([]);
    expect(await app.storedKeys()).to.deep.equal([]);
    const [entry] = await audit('account.purge_now');
    expect(entry!.reason).to.equal('Erasure asked by [erased] from [erased]');
    const text = JSON.stringify(await app.db('audit_log'));
    expect(text.toLowerCase()).not.to.include(target.username.toLowerCase()).and.not.include(target.email.toLowerCase());
    expect((await admin.client.get(`/admin/users/${target.id}`)).status).to.equal(404);
    expectJsonError(await act(admin, 'purge', {}, admin.id), 400, 'cannot_target_self');
  });

  it('answers 404 to moderators, users and guests on every page and action; actions need the CSRF token', async () => {
    const pages = ['/admin/users', `/admin/users/${target.id}`];
    const actions = ['suspend', 'unsuspend', 'quota', 'sign-out', 'delete', 'purge'].map((a) => `/admin/users/${target.id}/${a}`);
    await reauth(moderator);
    for (const path of pages) {
      expect((await moderator.client.get(path)).status, `moderator ${path}`).to.equal(404);
      expect((await target.client.get(path)).status, `user ${path}`).to.equal(404);
      expect((await rawRequest(`${app.url}${path}`)).status, `guest ${path}`).to.equal(404);
    }
    for (const path of actions) {
      expect((await moderator.client.post(path, { reason: 'x', quota: '1 KB' }, { csrfPage: '/admin' })).status, `moderator ${path}`).to.equal(404);
      expect((await target.client.post(path, { reason: 'x' }, { csrfPage: '/account/settings' })).status, `user ${path}`).to.equal(404);
      expect((await new WebClient(app.url).post(path, { reason: 'x' }, { csrfPage: '/login' })).status, `guest ${path}`).to.equal(404);
      expect((await admin.client.post(path, { reason: 'x', quota: '1 KB' }, { csrf: false })).status, `no CSRF ${path}`).to.equal(403);
    }
    const row = await app.db('users').where({ id: target.id }).first();
    expect(row).to.include({ suspended_at: null, quota_bytes: null, deletion_requested_at: null });
    expect(await app.db('audit_log').where({ target_id: target.id })).to.deep.equal([]);
    expect((await target.client.get('/account/images')).status).to.equal(200);
    // The nav shows Users to admins only.
    expect((await admin.client.get('/admin')).body.toString()).to.include('href="/admin/users"');
    expect((await moderator.client.get('/admin')).body.toString()).not.to.include('href="/admin/users"');
  });

  it('the export tool hands over the linked account’s ZIP after a fresh password, and is audited', async () => {
    const image = (await ownerUpload(target, await fixtures.png())).json();
    const request = await recordPrivacyRequest(createRepos(app.db), { kind: 'access', receivedAt: new Date(), userId: target.id, requester: 'by letter' });
    const loose = await recordPrivacyRequest(createRepos(app.db), { kind: 'access', receivedAt: new Date(), requester: 'someone@example.test' });
    const path = `/admin/privacy-requests/${request.id}/export`;
    expectJsonError(await admin.client.get(path, json), 403, 'reauth_required');
    expect((await admin.client.get(path)).headers.location).to.match(/^\/admin\/reauth\?next=/);
    expect((await moderator.client.get(path)).status).to.equal(404);
    expect((await target.client.get(path)).status).to.equal(404);
    await reauth(admin);

    const res = await admin.client.get(path);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/zip');
    expect(res.headers['cache-control']).to.equal('no-store');
    const entries = await unzip(res.body);
    expect([...entries.keys()].sort()).to.deep.equal(['account.json', `images/${image.id}.png`]);
    const account = JSON.parse(entries.get('account.json')!.toString('utf8'));
    expect(account.users).to.include({ id: target.id, username: target.username });
    const [entry] = await audit('privacy_request.export');
    expect(entry).to.include({ target_id: request.id, reason: null });
    expect(JSON.parse(entry!.detail)).to.deep.equal({});

    const none = await admin.client.get(`/admin/privacy-requests/${loose.id}/export`);
    expect(none.status).to.equal(404);
    expect(none.body.toString()).to.include('not linked to an account');
    expect((await admin.client.get('/admin/privacy-requests/not-a-request/export')).status).to.equal(404);
    // Both pages offer the tool.
    expect((await admin.client.get('/admin/privacy-requests')).body.toString()).to.include(`href="${path}"`);
    expect((await admin.client.get(`/admin/users/${target.id}`)).body.toString()).to.include(`href="${path}"`);
  });
});
