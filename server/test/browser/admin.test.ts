import { expect } from 'chai';
import { JOBS } from '../../jobs/index.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: the admin panel', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser({ acceptDownloads: true });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('an admin finds the panel from the header, sees the jobs, records and closes a privacy request, and finds it in the audit log', async () => {
    const admin = await signedInUser(app, { username: 'panel_admin' });
    await app.db('users').where({ id: admin.id }).update({ role: 'admin' });
    const { page } = browser;
    await logIn(page, app.url, admin);
    await page.waitForURL(/\/account\/images$/);

    await page.getByRole('link', { name: 'Admin', exact: true }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    expect(await page.locator('#jobs tbody tr').count()).to.equal(JOBS.length);
    expect(await page.locator('#config-warnings').textContent()).to.include('TURNSTILE_SECRET_KEY');
    expect(await seriousA11yViolations(page), 'dashboard').to.deep.equal([]);

    await page.getByRole('link', { name: 'Privacy requests' }).click();
    await page.getByLabel('Kind').selectOption('restriction');
    await page.getByLabel(/^From/).fill('writer@example.test');
    await page.locator('#new-note').fill('Letter of 20 November');
    await page.getByRole('button', { name: 'Record' }).click();
    const row = page.locator('#privacy-requests tbody tr').first();
    expect(await row.textContent()).to.include('writer@example.test');
    expect(await seriousA11yViolations(page), 'privacy requests').to.deep.equal([]);
    await row.getByLabel('Status').selectOption('done');
    await row.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Nothing pending.').waitFor();

    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = await page.locator('#audit-table').textContent();
    expect(audit).to.include('privacy_request.record').and.include('privacy_request.update').and.include('panel_admin');
    expect(await seriousA11yViolations(page), 'audit log').to.deep.equal([]);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).to.match(/^pixbin-audit-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
