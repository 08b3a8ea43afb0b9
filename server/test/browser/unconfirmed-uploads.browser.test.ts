import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { until } from '../helpers/assertions.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { loggedMailLink } from '../helpers/logged-mail.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const PASSWORD = 'correct horse battery staple';

describe('browser: a new account confirms its address before it uploads (UNVERIFIED_QUOTA_BYTES=0)', function () {
  this.timeout(120_000);
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

  it('sees a notice and a resend button instead of the drop zone; after following the link, it uploads', async () => {
    const { page } = browser;
    const email = 'erin@example.test';
    const verifyPrefix = `${app.url}/verify-email/`;
    await page.goto(`${app.url}/signup`);
    await page.getByLabel('Username').fill('erin');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel(/at least \d+ years old/).check();
    await page.getByLabel(/I accept the terms/).check();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Check your inbox').waitFor();
    await logIn(page, app.url, { username: 'erin', password: PASSWORD });

    // My images says it too, without a meter of a 0-byte quota.
    await page.goto(`${app.url}/account/images`);
    expect(await page.locator('#unconfirmed-notice').textContent()).to.include('Confirm your email address to upload');
    expect(await page.locator('#quota-meter').count()).to.equal(0);

    // The upload page: the notice, the address, a resend button; no drop zone, no file input.
    await page.goto(app.url);
    const notice = page.locator('#unconfirmed-notice');
    expect(await notice.textContent()).to.include('Confirm your email address to upload').and.include(email);
    expect(await page.locator('#dropzone').count()).to.equal(0);
    expect(await page.locator('#file').count()).to.equal(0);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);

    // Resend: a new link is written to the log (there is no SMTP_URL).
    const first = await loggedMailLink(app.logs, email, verifyPrefix);
    await notice.getByRole('button', { name: 'Send the link again' }).click();
    await page.getByText('We sent a new confirmation link').waitFor();
    let link = first;
    await until(async () => (link = await loggedMailLink(app.logs, email, verifyPrefix)) !== first, 'the re-sent link in the log');

    await page.goto(link);
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();

    // Confirmed: the drop zone is back, and an upload lands in My images.
    await page.goto(app.url);
    expect(await page.locator('#unconfirmed-notice').count()).to.equal(0);
    await page.locator('#file').setInputFiles({ name: 'first.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(await page.textContent('main')).to.include('It is in My images');
    const owner = (await app.db('users').where({ username_key: 'erin' }).first()) as { id: string };
    expect(await app.db('images').where({ owner_id: owner.id })).to.have.length(1);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
