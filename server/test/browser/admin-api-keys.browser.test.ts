import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { signedInUser } from '../helpers/accounts.js';
import { apiKeyFor } from '../helpers/api.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: staff see and revoke a user’s API keys', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('an admin opens the user page, sees the keys and the usage, and revokes one key; the other keeps working', async () => {
    const admin = await staffUser(app, 'admin');
    const holder = await signedInUser(app, { username: 'leaky_lee', email: 'lee@example.test' });
    const leaked = await apiKeyFor(app, holder, ['images:write'], 'never', 'Pasted in a public repo');
    const kept = await apiKeyFor(app, holder, ['images:read'], 'never', 'Home server');
    await createRepos(app.db).apiRequests.insert({ keyId: leaked.keyId, userId: holder.id, method: 'POST', route: '/api/v1/images', status: 201, durationMs: 40, uploadBytes: 2048, ip: '203.0.113.5', createdAt: new Date() });

    const { page } = browser;
    await logIn(page, app.url, admin);
    await page.goto(`${app.url}/admin/users/${holder.id}`);
    await page.getByRole('heading', { name: 'User leaky_lee' }).waitFor();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    expect(await page.locator('#user-api-keys tbody tr').count()).to.equal(2);
    expect(await page.locator('#user-api-usage').textContent()).to.include('1 request,').and.include('1 upload,');
    expect(await seriousA11yViolations(page), 'user page with keys').to.deep.equal([]);

    await page.getByRole('button', { name: 'Revoke the key Pasted in a public repo' }).click();
    await page.waitForURL(new RegExp(`/admin/users/${holder.id}#api-keys-heading$`));
    const leakedRow = page.locator(`#user-api-keys tr[data-key="${leaked.keyId}"]`);
    expect((await leakedRow.locator('.key-status').textContent())?.trim()).to.equal('revoked');
    expect(await leakedRow.getByRole('button').count(), 'no button on a revoked key').to.equal(0);
    const keptRow = page.locator(`#user-api-keys tr[data-key="${kept.keyId}"]`);
    expect((await keptRow.locator('.key-status').textContent())?.trim()).to.equal('active');

    const keys = (await app.db('api_keys').where({ user_id: holder.id })) as Array<{ id: string; revoked_at: unknown }>;
    expect(keys.find((k) => k.id === leaked.keyId)!.revoked_at).not.to.equal(null);
    expect(keys.find((k) => k.id === kept.keyId)!.revoked_at).to.equal(null);
    expect(await app.db('audit_log').where({ action: 'api_key.revoke', actor_id: admin.id, target_id: holder.id })).to.have.length(1);

    await page.goto(`${app.url}/admin/audit`);
    await page.getByText('api_key.revoke').first().waitFor();
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
