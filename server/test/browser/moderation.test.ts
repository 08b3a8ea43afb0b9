import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: report → queue → decision → statement of reasons', function () {
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

  it('a visitor reports from the share page, a moderator hides the image in the queue, and the uploader’s delete link says why', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const moderator = await signedInUser(app, { username: 'queue_mod' });
    await app.db('users').where({ id: moderator.id }).update({ role: 'moderator' });
    const { page } = browser;

    // A visitor reports it.
    await page.goto(image.pageUrl);
    await page.getByRole('link', { name: 'Report this image' }).click();
    expect(await seriousA11yViolations(page), 'report form').to.deep.equal([]);
    await page.getByLabel('Harassment or privacy violation').check();
    await page.getByLabel('Details (optional)').fill('This shows my home address.');
    await page.getByRole('button', { name: 'Send the report' }).click();
    await page.getByRole('heading', { name: 'Thank you' }).waitFor();

    // The moderator takes it from the queue to a decision.
    await browser.context.clearCookies();
    await logIn(page, app.url, moderator);
    await page.waitForURL(/\/account\/images$/);
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#group-${image.id}`);
    expect(await group.textContent()).to.include('This shows my home address.');
    expect(await group.locator('img').evaluate((el: HTMLImageElement) => el.decode().then(() => el.naturalWidth))).to.be.greaterThan(0);
    expect(await seriousA11yViolations(page), 'queue').to.deep.equal([]);
    await group.getByLabel('Decision').selectOption('hide');
    await group.getByLabel(/^Reason/).fill('Shows a private address');
    await group.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#queue-empty').waitFor();

    // Reflected everywhere the image was served, and in the audit log.
    for (const url of [image.pageUrl, image.url, image.thumbnailUrl]) expect((await rawRequest(url)).status, url).to.equal(404);
    await page.getByRole('link', { name: 'Audit log' }).click();
    expect(await page.locator('#audit-table').textContent()).to.include('image.hide').and.include('Shows a private address');

    // The uploader (a guest) sees the statement of reasons behind the delete link.
    await browser.context.clearCookies();
    await page.goto(image.deleteUrl);
    expect(await page.locator('#moderation-statement').textContent()).to.include('Shows a private address');
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });
});
