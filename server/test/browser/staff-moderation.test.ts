import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest, upload } from '../helpers/http.js';
import { reportTarget } from '../helpers/moderation.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: re-auth that keeps the decision, roles, and the image history', function () {
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

  it('a moderator removes from the queue, is asked for the password, types a wrong one then the right one, and the image is gone', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await reportTarget(app, image.id, { reason: 'illegal' });
    const moderator = await staffUser(app, 'moderator');
    const { page } = browser;
    await logIn(page, app.url, moderator);
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#group-${image.id}`);
    await group.getByLabel('Decision').selectOption('remove');
    await group.getByLabel(/^Reason/).fill('Unlawful content');
    await group.getByRole('button', { name: 'Apply' }).click();

    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    expect(await page.locator('#reauth-held').textContent()).to.include('has not been done yet');
    expect(await seriousA11yViolations(page), 're-auth page').to.deep.equal([]);
    await page.getByLabel('Password').fill('not my password');
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.locator('#reauth-error').waitFor();
    expect((await rawRequest(image.url)).status, 'not done on a wrong password').to.equal(200);
    await page.getByLabel('Password').fill(moderator.password);
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.locator('#queue-empty').waitFor();
    expect(new URL(page.url()).pathname).to.equal('/admin/reports');
    expect((await rawRequest(image.url)).status).to.equal(404);
    await page.getByRole('link', { name: 'Audit log' }).click();
    expect(await page.locator('#audit-table').textContent()).to.include('image.remove').and.include('Unlawful content');
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    // The wrong password's page is a 403, which Chromium logs; nothing else.
    expect(browser.consoleErrors.filter((e) => !e.includes('status of 403'))).to.deep.equal([]);
  });

  it('an admin makes a user a moderator from their user page', async () => {
    const admin = await staffUser(app, 'admin');
    const holder = await signedInUser(app, { username: 'future_mod' });
    const { page } = browser;
    await logIn(page, app.url, admin);
    await page.goto(`${app.url}/admin/users/${holder.id}`);
    await page.getByLabel(/^Role/).selectOption('moderator');
    await page.getByRole('button', { name: 'Set role' }).click();
    // Making someone staff needs the password again: the held form carries the chosen role through.
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.waitForURL(new RegExp(`/admin/users/${holder.id}$`));
    expect(await page.locator('#user-facts').textContent()).to.include('moderator');
    expect(await page.getByLabel(/^Role/).inputValue()).to.equal('moderator');
    expect(await seriousA11yViolations(page), 'user page').to.deep.equal([]);
    expect((await holder.client.get('/admin/reports')).status).to.equal(200);
    await page.getByRole('link', { name: 'Audit log' }).click();
    expect(await page.locator('#audit-table').textContent()).to.include('user.role');
    // Their own page offers no role control.
    await page.goto(`${app.url}/admin/users/${admin.id}`);
    await page.locator('#role-self').waitFor();
    expect(await page.locator('#role-form').count()).to.equal(0);
  });

  it('a moderator finds an unreported image in the browser, hides it, unhides it, and restores a removed one', async () => {
    const owner = await signedInUser(app, { username: 'pic_owner' });
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    const moderator = await staffUser(app, 'moderator');
    const { page } = browser;
    await logIn(page, app.url, moderator);
    await page.goto(`${app.url}/admin`);
    await page.getByRole('link', { name: 'Images', exact: true }).click();
    await page.getByLabel('Owner’s username').fill('pic_owner');
    await page.getByRole('button', { name: 'Search' }).click();
    expect(await page.locator('#images-table tbody tr').count()).to.equal(1);
    expect(await seriousA11yViolations(page), 'image browser').to.deep.equal([]);
    await page.getByRole('link', { name: image.id }).click();
    await page.getByRole('heading', { name: `Image ${image.id}` }).waitFor();
    expect(await page.locator('#image-thumb').evaluate((el: HTMLImageElement) => el.decode().then(() => el.naturalWidth))).to.be.greaterThan(0);
    expect(await seriousA11yViolations(page), 'history page').to.deep.equal([]);

    await page.getByLabel('Decision', { exact: true }).selectOption('hide');
    await page.getByLabel(/^Reason/).fill('Shows a private address');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(new RegExp(`/admin/images/${image.id}$`));
    expect(await page.locator('#image-state').textContent()).to.include('hidden');
    expect(await page.locator('#image-audit').textContent()).to.include('image.hide').and.include('Shows a private address').and.include(moderator.username);
    expect((await rawRequest(image.url)).status).to.equal(404);
    await page.getByLabel('Decision', { exact: true }).selectOption({ label: 'Unhide' });
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#image-audit').getByText('image.clear').waitFor();
    expect((await rawRequest(image.url)).status).to.equal(200);

    // Removed (the password is asked for on the way), then found among the removed and restored.
    await page.getByLabel('Decision', { exact: true }).selectOption('remove');
    await page.getByLabel(/^Reason/).fill('Unlawful after all');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByLabel('Password').fill(moderator.password);
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.locator('#image-restorable').waitFor();
    expect((await rawRequest(image.url)).status).to.equal(404);
    expect(await page.locator('#image-thumb').evaluate((el: HTMLImageElement) => el.decode().then(() => el.naturalWidth)), 'from the recovery store').to.be.greaterThan(0);
    await page.getByRole('link', { name: 'Images', exact: true }).click();
    await page.getByLabel('State').selectOption('removed');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: image.id }).click();
    await page.getByLabel('Decision', { exact: true }).selectOption({ label: 'Restore from the recovery store' });
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#image-audit').getByText('image.restore').waitFor();
    expect(await page.locator('#image-state').textContent()).to.include('live');
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
