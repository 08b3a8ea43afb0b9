import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { FULL_KEY } from '../helpers/api-key-pages.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: API keys', function () {
  this.timeout(120_000);
  let app: TestApp;
  let browser: TestBrowser;
  let user: TestUser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    user = await signedInUser(app);
    browser = await openBrowser({ permissions: ['clipboard-read', 'clipboard-write'], acceptDownloads: true });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('creates a key with the password, shows and copies it once, downloads the .sxcu, then lists only its start and revokes it', async () => {
    const { page } = browser;
    await logIn(page, app.url, user);
    await page.goto(`${app.url}/account/settings`);
    await page.locator('#api-keys-link').click();
    await page.waitForURL(`${app.url}/account/api-keys`);
    expect(await page.locator('#no-keys').textContent()).to.include('no API keys');
    expect(await seriousA11yViolations(page), 'empty list').to.deep.equal([]);

    // The uploader's two scopes come ticked; the password is asked for (none typed since logging in).
    await page.getByLabel('Name', { exact: true }).fill('ShareX on my laptop');
    expect(await page.getByRole('checkbox', { name: /images:write/ }).isChecked()).to.equal(true);
    expect(await page.getByRole('checkbox', { name: /images:read/ }).isChecked()).to.equal(true);
    expect(await page.getByRole('checkbox', { name: /images:delete/ }).isChecked()).to.equal(false);
    await page.getByLabel('Expires').selectOption('90d');
    await page.getByLabel('Your password').fill('not the password');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('#create-error').waitFor();
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).to.equal('ShareX on my laptop');
    expect(await page.getByLabel('Your password').inputValue()).to.equal('');
    expect(await app.db('api_keys')).to.have.length(0);
    // The refusal's 403 is the only console message so far (Chromium reports any 4xx page load).
    expect(browser.consoleErrors).to.deep.equal(['Failed to load resource: the server responded with a status of 403 (Forbidden)']);
    browser.consoleErrors.length = 0;

    await page.getByLabel('Your password').fill(user.password);
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Your new API key' }).waitFor();
    expect(await page.locator('#key-once').textContent()).to.include('you will not see it again');
    const key = await page.locator('#new-api-key').inputValue();
    expect(key).to.match(/^pxb_[0-9A-Za-z]{16}_[A-Za-z0-9_-]{43}$/);
    const keyId = key.slice(4, 20);
    expect((await page.content()).match(FULL_KEY), 'shown once on the page').to.have.length(1);
    const [row] = await app.db('api_keys');
    expect(row.secret_hash).to.equal(createHash('sha256').update(key.slice(21)).digest('hex'));

    await page.getByRole('button', { name: 'Copy API key' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).to.equal(key);
    await page.getByRole('button', { name: 'Copy API key' }).filter({ hasText: 'Copied' }).waitFor();

    // The downloads come from data: URLs on this page (the CSP lets them through); the server keeps nothing.
    const before = browser.requests.length;
    const [sxcuDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#sharex-download').click()]);
    expect(sxcuDownload.suggestedFilename()).to.match(/^pixbin-localhost-\d+\.sxcu$/);
    const sxcu = JSON.parse(await fs.readFile((await sxcuDownload.path())!, 'utf8')) as Record<string, any>;
    expect(sxcu).to.include({ RequestMethod: 'POST', RequestURL: `${app.url}/api/v1/images`, FileFormName: 'file', Body: 'MultipartFormData', URL: '{json:url}' });
    expect(sxcu.Headers).to.deep.equal({ Authorization: `Bearer ${key}` });
    const [scriptDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#script-download').click()]);
    expect(scriptDownload.suggestedFilename()).to.equal('pixbin-upload.sh');
    expect(await fs.readFile((await scriptDownload.path())!, 'utf8')).to.include(`PIXBIN_KEY='${key}'`);
    expect(browser.requests.slice(before).filter((u) => !u.startsWith('data:')), 'downloads ask the server nothing').to.deep.equal([]);
    // Audited once the button reads "Copy" again (its accessible name is "Copy API key").
    await page.getByRole('button', { name: 'Copy API key' }).filter({ hasText: /^Copy$/ }).waitFor();
    expect(await seriousA11yViolations(page), 'one-time page').to.deep.equal([]);

    // Back on the list: only the key's public start; the key itself is gone for good.
    await page.locator('#back-to-keys').click();
    await page.waitForURL(`${app.url}/account/api-keys`);
    const listed = page.locator(`tr[data-key="${keyId}"]`);
    expect(await listed.textContent()).to.include(`pxb_${keyId}_…`).and.include('active').and.include('never');
    expect(await page.content()).to.not.include(key.slice(21));
    expect(await page.locator('input[name="reauth_password"]').count(), 'typed a moment ago').to.equal(0);
    expect(await seriousA11yViolations(page), 'list').to.deep.equal([]);

    await listed.getByRole('link', { name: 'ShareX on my laptop' }).click();
    await page.waitForURL(`${app.url}/account/api-keys/${keyId}`);
    expect(await page.locator('#no-recent').textContent()).to.include('not been used');
    expect(await page.content()).to.not.include(key.slice(21));
    expect(await seriousA11yViolations(page), 'key page').to.deep.equal([]);
    await page.goBack();

    await page.locator(`tr[data-key="${keyId}"]`).getByRole('button', { name: 'Revoke the key ShareX on my laptop' }).click();
    await page.locator('#keys-notice').waitFor();
    expect(await page.locator(`tr[data-key="${keyId}"]`).textContent()).to.include('revoked');
    expect(await page.locator(`tr[data-key="${keyId}"]`).getByRole('button').count()).to.equal(0);
    expect((await app.db('api_keys').first()).revoked_at).to.not.equal(null);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
