import { expect } from 'chai';
import fs from 'node:fs/promises';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest } from '../helpers/http.js';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: privacy pages, "delete after", data export and account deletion', function () {
  this.timeout(90_000);
  let smtp: TestSmtp;
  let app: TestApp;
  let browser: TestBrowser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    smtp.messages.length = 0;
    app = await startTestApp({ SMTP_URL: smtp.url, PRIVACY_CONTACT: 'privacy@example.test' }, { publicHost: 'localhost' });
    browser = await openBrowser({ acceptDownloads: true });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('reads the privacy, retention and third-party pages from the footer, accessible and with nothing loaded from elsewhere', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.getByRole('link', { name: 'Privacy', exact: true }).click();
    await page.getByRole('heading', { name: 'Privacy policy' }).waitFor();
    expect(await page.textContent('#operator')).to.include('privacy@example.test');
    expect(await seriousA11yViolations(page), '/privacy').to.deep.equal([]);
    await page.getByRole('link', { name: 'How long data is kept' }).click();
    await page.getByRole('heading', { name: 'How long data is kept' }).waitFor();
    expect(await page.textContent('#retention-table')).to.include(`${app.config.ipLogRetentionDays} days`);
    expect(await seriousA11yViolations(page), '/retention').to.deep.equal([]);
    await page.getByRole('link', { name: 'Third parties', exact: true }).first().click();
    // SMTP is configured here, so the mail server is the one third party.
    expect(await page.locator('#subprocessors-table').textContent()).to.include('the mail server at 127.0.0.1');
    expect(await seriousA11yViolations(page), '/subprocessors').to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('a guest chooses "after 1 day" on the upload form and sees when the image goes, on the result and share pages', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.getByLabel('Delete it').selectOption('1d');
    await page.locator('#file').setInputFiles({ name: 'short-lived.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w{12}$/);
    const note = await page.locator('#expires-note').textContent();
    const id = /\/upload\/(\w{12})$/.exec(page.url())![1]!;
    const row = await app.db('images').where({ id }).first();
    const expiresAt = new Date(row.expires_at);
    expect(expiresAt.getTime()).to.be.closeTo(Date.now() + 86_400_000, 120_000);
    expect(note).to.include(expiresAt.toISOString().slice(0, 16).replace('T', ' '));
    await page.goto(`${app.url}/i/${id}`);
    expect(await page.locator('#expires-at').textContent()).to.include(expiresAt.toISOString().slice(0, 10));
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });

  it('downloads my data, deletes the account from the danger zone, and gets it back by logging in', async () => {
    const alice = await signedInUser(app, { username: 'browser_alice', email: 'browser.alice@example.test' });
    const image = (await ownerUpload(alice, await fixtures.png())).json();
    const { page } = browser;
    await page.goto(`${app.url}/login`);
    await page.getByLabel('Username or email').fill(alice.username);
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL(/\/account\/images$/);

    await page.goto(`${app.url}/account/settings`);
    expect(await seriousA11yViolations(page), 'settings with the danger zone').to.deep.equal([]);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download my data' }).click()]);
    expect(download.suggestedFilename()).to.match(/^pixbin-browser_alice-\d{4}-\d{2}-\d{2}\.zip$/);
    const zip = await fs.readFile((await download.path())!);
    expect(zip.subarray(0, 4).toString('latin1')).to.equal('PK\u0003\u0004');
    expect(zip.includes(Buffer.from(`images/${image.id}.png`))).to.equal(true);

    // A wrong password deletes nothing and says so.
    await page.getByLabel('Current password').last().fill('wrong password');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.locator('#delete-error').waitFor();
    expect((await rawRequest(image.url)).status).to.equal(200);

    await page.locator('#delete-current-password').fill(alice.password);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('heading', { name: 'Your account will be deleted' }).waitFor();
    expect((await rawRequest(image.url)).status).to.equal(404);
    expect(linkIn((await smtp.waitFor(alice.email, /will be deleted/)).text, `${app.url}/account/keep/`)).to.match(/keep\/\w{32}$/);

    // Logging in during the grace period offers the restore.
    await page.goto(`${app.url}/login`);
    await page.getByLabel('Username or email').fill(alice.username);
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your account is waiting to be deleted' }).waitFor();
    expect(await seriousA11yViolations(page), 'restore page').to.deep.equal([]);
    await page.getByRole('button', { name: 'Restore my account' }).click();
    await page.waitForURL(/\/account\/images\?done=restored$/);
    expect(await page.locator('#notice').textContent(), 'the restore says it worked').to.include('Your account is restored');
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect(await page.content()).to.include(image.id);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
