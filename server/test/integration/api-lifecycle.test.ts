import { expect } from 'chai';
import pino from 'pino';
import { createContainer } from '../../container.js';
import type { ApiRequestEntry } from '../../db/api-requests.repo.js';
import { createRepos } from '../../db/repos.js';
import { AppError } from '../../errors.js';
import { authenticateApiKey } from '../../services/api-keys.service.js';
import { purgeAccount } from '../../services/account-deletion.service.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { api, apiKeyFor } from '../helpers/api.js';
import { rawRequest } from '../helpers/http.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { unzip } from '../helpers/zip.js';

const DAY = 86_400_000;
const json = { Accept: 'application/json' };

/** One row of the API request log, as the API would write it. */
const entry = (over: Partial<ApiRequestEntry>): ApiRequestEntry => ({
  keyId: null,
  userId: null,
  method: 'GET',
  route: '/api/v1/me',
  status: 200,
  durationMs: 12,
  uploadBytes: 0,
  ip: '203.0.113.20',
  createdAt: new Date(),
  ...over,
});

/** What authenticateApiKey says about a key: the caller's account id, or the 401's code. */
async function authOutcome(app: TestApp, key: string): Promise<string> {
  try {
    return (await authenticateApiKey({ repos: createRepos(app.db), clock: () => new Date() }, key)).user.id;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    expect(err.kind).to.equal('unauthorized');
    return err.code;
  }
}

/** The holder asks to delete the account (Settings → Danger zone, with the password). */
async function askToDelete(app: TestApp, user: TestUser): Promise<void> {
  const res = await user.client.post('/account/settings/delete', { current_password: user.password }, { csrfPage: '/account/settings' });
  expect(res.status, res.body.toString().slice(0, 300)).to.be.oneOf([200, 303]);
  expect((await app.db('users').where({ id: user.id }).first()).deletion_requested_at).not.to.equal(null);
}

describe('API keys and the API request log in the account lifecycle', function () {
  this.timeout(60_000);
  let app: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  beforeEach(async () => {
    app = await startTestApp({ API_LOG_RETENTION_DAYS: '17' });
    alice = await signedInUser(app);
    bob = await signedInUser(app);
  });
  afterEach(() => app.close());

  it('the export lists the keys (never a hash, never the key) and the account’s own request log', async () => {
    const { key, keyId } = await apiKeyFor(app, alice, ['images:read', 'images:write'], '30d', 'ShareX on the laptop');
    const log = createRepos(app.db).apiRequests;
    const at = new Date(Date.now() - 2 * DAY);
    await log.insert(entry({ keyId, userId: alice.id, method: 'POST', route: '/api/v1/images', status: 201, uploadBytes: 4321, ip: '198.51.100.44', createdAt: at }));
    await log.insert(entry({ keyId, userId: alice.id, status: 404, route: '/api/v1/images/:id' }));
    const bobs = await apiKeyFor(app, bob);
    await log.insert(entry({ keyId: bobs.keyId, userId: bob.id, ip: '192.0.2.99' }));

    const entries = await unzip((await alice.client.request('/account/export')).body);
    const text = entries.get('account.json')!.toString('utf8');
    const account = JSON.parse(text);
    const secretHash = String((await app.db('api_keys').where({ id: keyId }).first()).secret_hash);
    expect(text).not.to.include(secretHash).and.not.include(key).and.not.include(key.slice(key.lastIndexOf('_') + 1)).and.not.include('secret_hash');
    expect(account.api_keys).to.have.length(1);
    expect(account.api_keys[0]).to.include({ id: keyId, preview: `pxb_${keyId}_…`, name: 'ShareX on the laptop', last_used_at: null, revoked_at: null });
    expect(account.api_keys[0].scopes).to.deep.equal(['images:read', 'images:write']);
    expect(account.api_keys[0].created_at).to.match(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    expect(Date.parse(account.api_keys[0].expires_at) - Date.parse(account.api_keys[0].created_at)).to.equal(30 * DAY);

    expect(account.api_requests.map((r: Record<string, unknown>) => [r.method, r.route, r.status, r.upload_bytes, r.key_id])).to.deep.equal([
      ['POST', '/api/v1/images', 201, 4321, keyId],
      ['GET', '/api/v1/images/:id', 404, 0, keyId],
    ]);
    expect(account.api_requests[0]).to.include({ ip: '198.51.100.44', duration_ms: 12, created_at: at.toISOString() });
    expect(text, 'another account’s calls').not.to.include('192.0.2.99').and.not.include(bobs.keyId);
  });

  it('the purge erases the keys and the request log of the account, and nothing of anyone else’s', async () => {
    const { key, keyId } = await apiKeyFor(app, alice);
    const revoked = await apiKeyFor(app, alice, ['account:read']);
    await app.db('api_keys').where({ id: revoked.keyId }).update({ revoked_at: new Date() });
    const bobs = await apiKeyFor(app, bob);
    const log = createRepos(app.db).apiRequests;
    await log.insert(entry({ keyId, userId: alice.id, ip: '198.51.100.1' }));
    await log.insert(entry({ keyId: revoked.keyId, userId: alice.id, ip: '198.51.100.2', createdAt: new Date(Date.now() - 10 * DAY) }));
    // A refused attempt with her key id names no account; it goes too, as it is about her key.
    await log.insert(entry({ keyId, userId: null, status: 401, ip: '198.51.100.3' }));
    await log.insert(entry({ keyId: bobs.keyId, userId: bob.id, ip: '192.0.2.1' }));
    await log.insert(entry({ keyId: null, userId: null, status: 401, ip: '192.0.2.2' }));

    await askToDelete(app, alice);
    expect(await authOutcome(app, key), 'a key stops at once when deletion is asked for').to.equal('account_pending_deletion');
    const { deletion } = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
    expect(await purgeAccount(deletion, alice.id, new Date())).to.equal(true);

    expect(await app.db('api_keys').where({ user_id: alice.id })).to.deep.equal([]);
    expect(await app.db('api_requests').where({ user_id: alice.id })).to.deep.equal([]);
    expect(await app.db('api_requests').whereIn('key_id', [keyId, revoked.keyId])).to.deep.equal([]);
    expect((await app.db('api_requests').pluck('ip')).sort()).to.deep.equal(['192.0.2.1', '192.0.2.2']);
    expect(await app.db('api_keys').pluck('id')).to.deep.equal([bobs.keyId]);
    expect(await authOutcome(app, key)).to.equal('invalid_api_key');
    expect(await authOutcome(app, bobs.key)).to.equal(bob.id);
  });

  it('a key of an account pending deletion or suspended answers 401 (checked in the service)', async () => {
    const { key } = await apiKeyFor(app, alice);
    const bobs = await apiKeyFor(app, bob);
    expect(await authOutcome(app, key)).to.equal(alice.id);
    const admin = await staffUser(app, 'admin');
    const suspend = await admin.client.post(`/admin/users/${alice.id}/suspend`, { reason: 'spam through the API' }, { csrfPage: '/admin', json: true });
    expect(suspend.status).to.equal(200);
    expect(await authOutcome(app, key)).to.equal('account_suspended');
    await admin.client.post(`/admin/users/${alice.id}/unsuspend`, { reason: '' }, { csrfPage: '/admin', json: true });
    expect(await authOutcome(app, key)).to.equal(alice.id);
    await askToDelete(app, bob);
    expect(await authOutcome(app, bobs.key)).to.equal('account_pending_deletion');
  });

  it('a key of an account pending deletion or suspended answers 401 from /api/v1/me', async () => {
    const { key } = await apiKeyFor(app, alice);
    const bobs = await apiKeyFor(app, bob);
    expect((await api(app, 'GET', '/api/v1/me', { key })).status).to.equal(200);
    await app.db('users').where({ id: alice.id }).update({ suspended_at: new Date(), suspended_reason: 'spam' });
    const suspended = await api(app, 'GET', '/api/v1/me', { key });
    expect(suspended.status).to.equal(401);
    expect(suspended.json).to.include({ code: 'account_suspended', status: 401 });
    await askToDelete(app, bob);
    const pending = await api(app, 'GET', '/api/v1/me', { key: bobs.key });
    expect(pending.status).to.equal(401);
    expect(pending.json).to.include({ code: 'account_pending_deletion', status: 401 });
  });

  it('/privacy and /retention show the request-log window from API_LOG_RETENTION_DAYS and what the log holds', async () => {
    const privacy = (await rawRequest(`${app.url}/privacy`)).body.toString();
    expect(privacy).to.include('API request-log rows (with IP addresses) after <span data-figure="API_LOG_RETENTION_DAYS">17</span> days');
    expect(privacy).to.include('SHA-256 hash of its secret').and.include('the IP address it came from');
    const retention = (await rawRequest(`${app.url}/retention`)).body.toString();
    const row = /<tr id="retention-api-log">(.*?)<\/tr>/s.exec(retention)?.[1] ?? '';
    expect(row).to.include('<span data-figure="API_LOG_RETENTION_DAYS">17</span> days').and.include('rotate-api-log');
    expect(row).to.include('key id').and.include('route').and.include('status').and.include('duration').and.include('IP address');
  });
});

describe('staff: a user’s API keys and usage, and the dashboard’s API traffic', function () {
  this.timeout(60_000);
  let app: TestApp;
  let admin: TestUser;
  let target: TestUser;
  beforeEach(async () => {
    app = await startTestApp({ API_LOG_RETENTION_DAYS: '10' });
    admin = await staffUser(app, 'admin');
    target = await signedInUser(app);
  });
  afterEach(() => app.close());

  const revoke = (by: TestUser, keyId: string, userId = target.id, options: { csrf?: boolean } = {}) =>
    by.client.post(`/admin/users/${userId}/api-keys/${keyId}/revoke`, {}, { csrfPage: '/account/settings', json: true, ...options });

  it('the user page lists the keys (no hash) and the calls per day within the window', async () => {
    const laptop = await apiKeyFor(app, target, ['images:write'], 'never', 'Laptop <script>');
    const old = await apiKeyFor(app, target, ['account:read'], '7d', 'Old one');
    await app.db('api_keys').where({ id: old.keyId }).update({ expires_at: new Date(Date.now() - DAY) });
    const log = createRepos(app.db).apiRequests;
    const today = new Date();
    const twoDaysAgo = new Date(today.getTime() - 2 * DAY);
    await log.insert(entry({ keyId: laptop.keyId, userId: target.id, method: 'POST', route: '/api/v1/images', status: 201, uploadBytes: 1000, createdAt: today }));
    await log.insert(entry({ keyId: laptop.keyId, userId: target.id, status: 403, createdAt: today }));
    await log.insert(entry({ keyId: laptop.keyId, userId: target.id, method: 'POST', route: '/api/v1/images', status: 201, uploadBytes: 500, createdAt: twoDaysAgo }));
    await log.insert(entry({ keyId: laptop.keyId, userId: target.id, createdAt: new Date(today.getTime() - 11 * DAY) })); // outside the window
    await log.insert(entry({ keyId: null, userId: admin.id, createdAt: today })); // someone else

    const profile = (await admin.client.get(`/admin/users/${target.id}`, json)).json();
    expect(JSON.stringify(profile)).not.to.include('secretHash').and.not.include(String((await app.db('api_keys').where({ id: laptop.keyId }).first()).secret_hash));
    expect(profile.api.keys.map((k: Record<string, unknown>) => [k.preview, k.name, k.status])).to.have.deep.members([
      [`pxb_${laptop.keyId}_…`, 'Laptop <script>', 'active'],
      [`pxb_${old.keyId}_…`, 'Old one', 'expired'],
    ]);
    expect(profile.api.usage.totals).to.deep.equal({ requests: 3, uploads: 2, bytes: 1500, errors: 1 });
    expect(profile.api.usage.days).to.equal(10);
    expect(profile.api.usage.perDay.map((d: { day: string; requests: number }) => [d.day, d.requests])).to.deep.equal([
      [today.toISOString().slice(0, 10), 2],
      [twoDaysAgo.toISOString().slice(0, 10), 1],
    ]);

    const html = (await admin.client.get(`/admin/users/${target.id}`)).body.toString();
    expect(html).to.include(`pxb_${laptop.keyId}_…`).and.include('Laptop &lt;script&gt;').and.include('images:write');
    expect(html).to.include(`action="/admin/users/${target.id}/api-keys/${laptop.keyId}/revoke"`);
    expect(html, 'no button for a key that no longer works').not.to.include(`/api-keys/${old.keyId}/revoke`);
    expect(html).to.match(/id="user-api-usage">Last 10 days: 3 requests, 1 answered with an error, 2 uploads/);
  });

  it('an admin revokes a key (audited, no password needed); it then fails; others cannot, and ids from elsewhere are 404', async () => {
    const { key, keyId } = await apiKeyFor(app, target);
    const other = await signedInUser(app);
    const othersKey = await apiKeyFor(app, other);
    const moderator = await staffUser(app, 'moderator');

    expect((await revoke(moderator, keyId)).status, 'moderator').to.equal(404);
    expect((await revoke(target, keyId)).status, 'the holder, through the staff route').to.equal(404);
    expect((await revoke(admin, keyId, target.id, { csrf: false })).status, 'no CSRF token').to.equal(403);
    expect((await revoke(admin, othersKey.keyId)).status, 'another account’s key under this account').to.equal(404);
    expect((await revoke(admin, 'not-a-key-id')).status).to.equal(404);
    expect(await authOutcome(app, key)).to.equal(target.id);
    expect(await authOutcome(app, othersKey.key)).to.equal(other.id);
    expect(await app.db('audit_log').where({ action: 'api_key.revoke' })).to.deep.equal([]);

    const res = await revoke(admin, keyId);
    expect(res.status).to.equal(200);
    expect(res.json()).to.deep.equal({ revoked: true });
    expect(await authOutcome(app, key)).to.equal('api_key_revoked');
    const refused = await api(app, 'GET', '/api/v1/me', { key });
    expect(refused.status).to.equal(401);
    expect(refused.json).to.include({ code: 'api_key_revoked' });
    const [row] = (await app.db('audit_log').where({ action: 'api_key.revoke' })) as Array<Record<string, unknown>>;
    expect(row).to.include({ actor_id: admin.id, target_type: 'user', target_id: target.id });
    expect(JSON.parse(String(row!.detail))).to.include({ keyId });
    // Twice is harmless and audited once.
    expect((await revoke(admin, keyId)).status).to.equal(200);
    expect(await app.db('audit_log').where({ action: 'api_key.revoke' })).to.have.length(1);
    const profile = (await admin.client.get(`/admin/users/${target.id}`, json)).json();
    expect(profile.api.keys[0].status).to.equal('revoked');
    // A form post goes back to the user page.
    const second = await apiKeyFor(app, target);
    const form = await admin.client.post(`/admin/users/${target.id}/api-keys/${second.keyId}/revoke`, {}, { csrfPage: `/admin/users/${target.id}` });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.equal(`/admin/users/${target.id}#api-keys-heading`);
  });

  it('the dashboard shows API requests, errors, uploads and bytes per day over the window, and the active keys', async () => {
    const a = await apiKeyFor(app, target);
    const b = await apiKeyFor(app, admin);
    const revoked = await apiKeyFor(app, admin);
    await app.db('api_keys').where({ id: revoked.keyId }).update({ revoked_at: new Date() });
    const expired = await apiKeyFor(app, target, ['account:read'], '7d');
    await app.db('api_keys').where({ id: expired.keyId }).update({ expires_at: new Date(Date.now() - 1000) });
    const log = createRepos(app.db).apiRequests;
    const today = new Date();
    const yesterday = new Date(today.getTime() - DAY);
    await log.insert(entry({ keyId: a.keyId, userId: target.id, method: 'POST', route: '/api/v1/images', status: 201, uploadBytes: 2048, createdAt: today }));
    await log.insert(entry({ keyId: b.keyId, userId: admin.id, status: 200, createdAt: today }));
    await log.insert(entry({ keyId: null, userId: null, status: 401, createdAt: today }));
    await log.insert(entry({ keyId: a.keyId, userId: target.id, method: 'POST', route: '/api/v1/images', status: 201, uploadBytes: 1024, createdAt: yesterday }));
    await log.insert(entry({ keyId: a.keyId, userId: target.id, status: 500, createdAt: yesterday }));
    await log.insert(entry({ keyId: a.keyId, userId: target.id, createdAt: new Date(today.getTime() - 12 * DAY) })); // outside the window

    const view = (await admin.client.get('/admin', json)).json();
    expect(view.api.days).to.equal(10);
    expect(view.api.activeKeys).to.equal(2);
    expect(view.api.totals).to.deep.equal({ requests: 5, uploads: 2, bytes: 3072, errors: 2 });
    expect(view.api.perDay).to.deep.equal([
      { day: today.toISOString().slice(0, 10), requests: 3, uploads: 1, bytes: 2048, errors: 1 },
      { day: yesterday.toISOString().slice(0, 10), requests: 2, uploads: 1, bytes: 1024, errors: 1 },
    ]);

    // Moderators see the dashboard too; the section is numbers only.
    const moderator = await staffUser(app, 'moderator');
    const html = (await moderator.client.get('/admin')).body.toString();
    expect(html).to.include('<h2>API traffic</h2>').and.include('id="api-active-keys">2<');
    expect(html).to.match(/Last 10 days \(what the API request log holds\): 5 requests, 2 answered with an error, 2 uploads/);
    expect(html).to.include(`<tr data-day="${today.toISOString().slice(0, 10)}"><td>${today.toISOString().slice(0, 10)}</td><td>3</td><td>1</td><td>1</td>`);
    expect(html).not.to.include('203.0.113.20');
  });
});
