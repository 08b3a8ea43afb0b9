import { expect } from 'chai';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, openBrowser, seriousA11yViolations, submitLogin, type TestBrowser } from '../helpers/browser.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: the admin users pages', function () {
  this.timeout(90_000);
  let app: TestApp;
  let adminBrowser: TestBrowser;
  let userBrowser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    adminBrowser = await openBrowser();
    userBrowser = await openBrowser();
  });
  afterEach(async () => {
    await adminBrowser.close();
    await userBrowser.close();
    await app.close();
  });


  it('an admin finds a user, suspends them with a reason the user then sees at login, and lifts it', async () => {
    const admin = await staffUser(app, 'admin');
    const holder = await signedInUser(app, { username: 'mallory_spam', email: 'mallory@example.test' });
    await signedInUser(app, { username: 'someone_else' });
    const { page } = adminBrowser;
    await submitLogin(page, app.url, admin.username, admin.password);
    await page.waitForURL(/\/account\/images$/);
    await page.getByRole('link', { name: 'Admin', exact: true }).click();
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByLabel('Username or email contains').fill('MALLORY@');
    await page.getByRole('button', { name: 'Search' }).click();
    expect(await page.locator('#users-table tbody tr').count()).to.equal(1);
    expect(await seriousA11yViolations(page), 'users list').to.deep.equal([]);
    await page.getByRole('link', { name: 'mallory_spam' }).click();
    await page.getByRole('heading', { name: 'User mallory_spam' }).waitFor();
    expect(await seriousA11yViolations(page), 'profile').to.deep.equal([]);
    await page.getByLabel(/^Reason/).fill('Posting scam links in every album');
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.waitForURL(new RegExp(`/admin/users/${holder.id}$`));
    expect(await page.locator('#user-status').textContent()).to.include('suspended').and.include('Posting scam links');

    await submitLogin(userBrowser.page, app.url, holder.username, holder.password);
    await userBrowser.page.getByText('Posting scam links in every album').waitFor();
    expect(userBrowser.page.url()).to.match(/\/login$/);

    await page.getByRole('button', { name: 'Lift the suspension' }).click();
    await page.getByRole('button', { name: 'Suspend' }).waitFor();
    expect(await page.locator('#user-status').textContent()).to.include('active');
    await submitLogin(userBrowser.page, app.url, holder.username, holder.password);
    await userBrowser.page.waitForURL(/\/account\/images$/);

    expect(foreignRequests(adminBrowser.requests, app.url)).to.deep.equal([]);
    expect(adminBrowser.consoleErrors).to.deep.equal([]);
  });
});
