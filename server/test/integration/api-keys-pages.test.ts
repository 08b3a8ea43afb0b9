import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { api, apiKeyFor } from '../helpers/api.js';
import { downloadsFromPage, FULL_KEY, keyFromPage, postCreateKey } from '../helpers/api-key-pages.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const MINUTE = 60_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('account API key pages', function () {
  this.timeout(60_000);
  let app: TestApp;
  let now: Date;
  let alice: TestUser;
  beforeEach(async () => {
    now = new Date();
    app = await startTestApp({ STAFF_REAUTH_MINUTES: '10', API_LOG_RETENTION_DAYS: '21' }, { clock: () => now });
    alice = await signedInUser(app);
  });
  afterEach(() => app.close());

  const keyRows = (userId = alice.id) => app.db('api_keys').where({ user_id: userId });
  const page = async (user: TestUser, path: string) => {
    const res = await user.client.get(path);
    return { status: res.status, html: res.body.toString(), headers: res.headers };
  };

  it('asks for the password first; a wrong or missing one creates nothing and is never echoed', async () => {
    const list = await page(alice, '/account/api-keys');
    expect(list.status).to.equal(200);
    expect(list.html).to.include('name="reauth_password"');

    const missing = await postCreateKey(alice, { name: 'Laptop' });
    expect(missing.status).to.equal(403);
    const wrong = await postCreateKey(alice, { name: 'Laptop', password: 'not my password' });
    expect(wrong.status).to.equal(403);
    const html = wrong.body.toString();
    expect(html).to.include('id="create-error"').and.include('password is not correct');
    expect(html, 'the other fields come back').to.include('value="Laptop"');
    expect(html).to.not.include('not my password');
    expect(html).to.include('name="reauth_password"');
    expect(html.match(FULL_KEY)).to.equal(null);
    expect(await keyRows()).to.have.length(0);
    expect(await app.db('security_log').where({ event: 'account.reauth_failed', user_id: alice.id })).to.have.length(2);
  });

  it('shows the whole key once, stores only the hash of its secret, and never shows it again', async () => {
    const res = await postCreateKey(alice, { name: 'ShareX on my laptop', scopes: ['images:write', 'images:read'], expires: '30d', password: alice.password });
    expect(res.status, res.body.toString().slice(0, 300)).to.equal(201);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.headers.location).to.equal(undefined);
    const html = res.body.toString();
    const { key, keyId, secret } = keyFromPage(html);
    expect(html).to.include('you will not see it again');

    const [row] = await keyRows();
    expect(row).to.include({ id: keyId, name: 'ShareX on my laptop', scopes: 'images:read images:write' });
    expect(row.secret_hash).to.match(/^[0-9a-f]{64}$/).and.equal(sha256(secret));
    expect(JSON.stringify(row)).to.not.include(secret);
    expect(new Date(row.expires_at).getTime()).to.equal(now.getTime() + 30 * 24 * 60 * MINUTE);

    // The downloads carry the key (base64, in data: URLs); the script shown as text has the preview instead.
    const { sxcu, sxcuName, script, scriptName } = downloadsFromPage(html);
    expect(sxcu.Headers).to.deep.equal({ Authorization: `Bearer ${key}` });
    expect(sxcu.RequestURL).to.equal(`${app.url}/api/v1/images`);
    expect(sxcuName).to.match(/^pixbin-127\.0\.0\.1-\d+\.sxcu$/);
    expect(script).to.include(`PIXBIN_KEY='${key}'`).and.match(/^#!\/bin\/sh\n/);
    expect(scriptName).to.equal('pixbin-upload.sh');
    expect(html).to.include(`PIXBIN_KEY=&#39;pxb_${keyId}_…&#39;`);
    expect(html).to.include('flameshot gui --raw | sh ~/pixbin-upload.sh');
    // Both downloads hold the key, and the page says how to keep them to oneself.
    expect(html).to.include('<code id="script-chmod">chmod 600 ~/pixbin-upload.sh</code>');
    expect(html).to.include(`<code id="sharex-chmod">chmod 600 ${sxcuName}</code>`);

    // Nothing else ever shows it: the list, the key's page, the settings page, nor the logs or any other table.
    for (const path of ['/account/api-keys', `/account/api-keys/${keyId}`, '/account/settings']) {
      const later = await page(alice, path);
      expect(later.status, path).to.equal(200);
      expect(later.html, path).to.not.include(secret);
      expect(later.html.match(FULL_KEY), path).to.equal(null);
    }
    const list = await page(alice, '/account/api-keys');
    expect(list.html).to.include(`pxb_${keyId}_…`).and.include('ShareX on my laptop');
    expect(JSON.stringify(app.logs)).to.not.include(secret);
    for (const table of ['sessions', 'security_log', 'audit_log']) expect(JSON.stringify(await app.db(table).select()), table).to.not.include(secret);
    const [created] = await app.db('security_log').where({ event: 'api_key.create', user_id: alice.id });
    expect(created).to.not.equal(undefined);
  });

  it('does not ask again within the re-auth window, and asks again after it', async () => {
    expect((await postCreateKey(alice, { name: 'First', password: alice.password })).status).to.equal(201);
    const list = await page(alice, '/account/api-keys');
    expect(list.html).to.not.include('name="reauth_password"');
    const second = await postCreateKey(alice, { name: 'Second' });
    expect(second.status).to.equal(201);
    keyFromPage(second.body.toString());

    now = new Date(now.getTime() + 11 * MINUTE);
    expect((await page(alice, '/account/api-keys')).html).to.include('name="reauth_password"');
    expect((await postCreateKey(alice, { name: 'Third' })).status).to.equal(403);
    expect((await keyRows()).map((r) => r.name)).to.have.members(['First', 'Second']);
  });

  it('refuses bad input with the form again and creates nothing', async () => {
    const cases: Array<[Parameters<typeof postCreateKey>[1], number, string]> = [
      [{ name: '   ' }, 400, 'Give the key a name'],
      [{ name: 'x'.repeat(101) }, 400, 'at most 100 characters'],
      [{ name: 'No scopes', scopes: [] }, 400, 'Choose at least one thing'],
      [{ name: 'Bad scope', scopes: ['images:read', 'admin:everything'] }, 400, 'Scopes are'],
      [{ name: 'Bad expiry', expires: '10y' }, 400, 'Choose when the key expires'],
    ];
    for (const [form, status, message] of cases) {
      const res = await postCreateKey(alice, { ...form, password: alice.password });
      expect(res.status, JSON.stringify(form)).to.equal(status);
      expect(res.body.toString(), JSON.stringify(form)).to.include('id="create-error"').and.include(message);
    }
    expect(await keyRows()).to.have.length(0);

    const noCsrf = await postCreateKey(alice, { name: 'No token', password: alice.password }, { csrf: false });
    expect(noCsrf.status).to.equal(403);
    expect(await keyRows()).to.have.length(0);

    // The active-key ceiling: revoked keys do not count towards it.
    for (let i = 0; i < 50; i += 1) await apiKeyFor(app, alice, ['images:read'], 'never', `key ${i}`);
    const full = await postCreateKey(alice, { name: 'One too many', password: alice.password });
    expect(full.status).to.equal(409);
    expect(full.body.toString()).to.include('at most 50 active keys');
    expect(await keyRows()).to.have.length(50);
    const [oldest] = await keyRows().orderBy('created_at', 'asc').limit(1);
    expect((await alice.client.post(`/account/api-keys/${oldest.id}/revoke`, {}, { csrfPage: '/account/api-keys' })).status).to.equal(303);
    expect((await postCreateKey(alice, { name: 'Now it fits' })).status).to.equal(201);
  });

  it('sends guests to the login page and refuses their posts', async () => {
    const guest = await fetch(`${app.url}/account/api-keys`, { redirect: 'manual', headers: { Accept: 'text/html' } });
    expect(guest.status).to.equal(303);
    expect(guest.headers.get('location')).to.equal('/login');
    const post = await fetch(`${app.url}/account/api-keys`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'name=x&scopes=images:read' });
    expect(post.status).to.be.oneOf([401, 403]);
    expect(await app.db('api_keys')).to.have.length(0);
  });

  it('revokes a key, which then stops working; another account cannot see or revoke it', async () => {
    const created = await postCreateKey(alice, { name: 'To revoke', scopes: ['account:read'], password: alice.password });
    const { key, keyId } = keyFromPage(created.body.toString());
    expect((await api(app, 'GET', '/api/v1/me', { key })).status, 'the key works before').to.equal(200);

    const mallory = await signedInUser(app);
    expect((await page(mallory, `/account/api-keys/${keyId}`)).status).to.equal(404);
    const foreign = await mallory.client.post(`/account/api-keys/${keyId}/revoke`, {}, { csrfPage: '/account/api-keys' });
    expect(foreign.status).to.equal(404);
    expect((await page(mallory, '/account/api-keys')).html).to.not.include(keyId);
    expect((await keyRows())[0].revoked_at).to.equal(null);

    // A revoke that another site could forge, without the form's CSRF token or with a made-up one, does nothing.
    for (const csrf of [false, 'forged-token'] as const) {
      const forged = await alice.client.post(`/account/api-keys/${keyId}/revoke`, {}, { csrf });
      expect(forged.status, String(csrf)).to.equal(403);
    }
    expect((await keyRows())[0].revoked_at).to.equal(null);
    expect((await api(app, 'GET', '/api/v1/me', { key })).status, 'the key still works').to.equal(200);
    expect(await app.db('security_log').where({ event: 'api_key.revoke', user_id: alice.id })).to.have.length(0);

    const revoke = await alice.client.post(`/account/api-keys/${keyId}/revoke`, {}, { csrfPage: '/account/api-keys' });
    expect(revoke.status).to.equal(303);
    expect(revoke.headers.location).to.equal('/account/api-keys?done=revoked');
    expect((await keyRows())[0].revoked_at).to.not.equal(null);
    const list = await page(alice, revoke.headers.location as string);
    expect(list.html).to.include('The key was revoked').and.include('>revoked<');
    expect(list.html).to.not.include(`/account/api-keys/${keyId}/revoke`);
    expect((await page(alice, `/account/api-keys/${keyId}`)).html).to.include('revoked since');
    const after = await api(app, 'GET', '/api/v1/me', { key });
    expect(after.status).to.equal(401);
    expect(await app.db('security_log').where({ event: 'api_key.revoke', user_id: alice.id })).to.have.length(1);

    const missing = await alice.client.post('/account/api-keys/AAAAAAAAAAAAAAAA/revoke', {}, { csrfPage: '/account/api-keys' });
    expect(missing.status).to.equal(404);
    expect((await page(alice, '/account/api-keys/not-a-key-id')).status).to.equal(404);
  });

  it("shows a key's recent requests and daily counts over the retention window, and only that key's", async () => {
    const mine = await apiKeyFor(app, alice, ['images:write'], 'never', 'Uploader');
    const other = await apiKeyFor(app, alice, ['images:read'], 'never', 'Reader');
    const repos = createRepos(app.db);
    const day = 24 * 60 * MINUTE;
    const entry = (keyId: string, at: Date, extra: object = {}) =>
      repos.apiRequests.insert({ keyId, userId: alice.id, method: 'POST', route: '/api/v1/images', status: 201, durationMs: 42, uploadBytes: 2048, ip: '203.0.113.9', createdAt: at, ...extra });
    // Noon UTC today, so the two requests of "today" fall on the same UTC day whenever the test runs.
    const noon = new Date(`${now.toISOString().slice(0, 10)}T12:00:00Z`);
    await entry(mine.keyId, new Date(noon.getTime() - MINUTE));
    await entry(mine.keyId, new Date(noon.getTime() - 2 * MINUTE), { status: 415, uploadBytes: 0, durationMs: 7 });
    await entry(mine.keyId, new Date(now.getTime() - 3 * day), { method: 'GET', route: '/api/v1/images/:id', status: 200, uploadBytes: 0 });
    await entry(mine.keyId, new Date(now.getTime() - 30 * day), { method: 'DELETE', route: '/api/v1/old-outside-window', status: 204, uploadBytes: 0 });
    await entry(other.keyId, new Date(now.getTime() - MINUTE), { method: 'GET', route: '/api/v1/other-key-route', status: 200, uploadBytes: 0 });

    const detail = await page(alice, `/account/api-keys/${mine.keyId}`);
    expect(detail.status).to.equal(200);
    const recent = /id="recent-table">([\s\S]*?)<\/table>/.exec(detail.html)![1]!;
    expect(recent).to.include('POST /api/v1/images').and.include('GET /api/v1/images/:id').and.include('415').and.include('42 ms');
    expect(recent).to.not.include('other-key-route');
    const daily = /id="daily-table">([\s\S]*?)<\/table>/.exec(detail.html)![1]!;
    const today = now.toISOString().slice(0, 10);
    const rows = [...daily.matchAll(/<tr><td>([\d-]+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>([^<]+)<\/td><td>(\d+)<\/td><\/tr>/g)].map((m) => m.slice(1));
    expect(rows).to.have.length(2, 'the 30-day-old request is outside the 21-day window');
    expect(rows[0]).to.deep.equal([today, '2', '1', '2.0 KB', '1']);
    expect(detail.html).to.include('kept for 21 days').and.include('href="/privacy"');
    expect(detail.html).to.not.include('203.0.113.9');
    const list = (await page(alice, '/account/api-keys')).html;
    expect(list).to.include('<strong id="log-retention">21 days</strong>');
    // The list sums each key's use over the window: three requests of `mine` (one upload of 2 KB), one of `other`.
    const useOf = (keyId: string) => new RegExp(`data-key="${keyId}">[\\s\\S]*?class="key-use">([^<]*)<`).exec(list)?.[1];
    expect(useOf(mine.keyId)).to.equal('3 requests, 1 upload (2.0 KB)');
    expect(useOf(other.keyId)).to.equal('1 request, 0 uploads (0 B)');

    const fresh = await apiKeyFor(app, alice, ['images:read'], 'never', 'Unused');
    const unused = await page(alice, `/account/api-keys/${fresh.keyId}`);
    expect(unused.html).to.include('id="no-recent"').and.include('id="no-daily"');
  });
});
