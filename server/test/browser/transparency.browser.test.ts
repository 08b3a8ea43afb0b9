import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { upload } from '../helpers/http.js';
import { reportTarget } from '../helpers/moderation.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: the transparency report', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  // Its own year, far from other tests' clocks (the audit log is kept between tests).
  let now = Date.UTC(2010, 1, 10, 12);
  beforeEach(async () => {
    app = await startTestApp({ TRANSPARENCY_MIN_COUNT: '3' }, { publicHost: 'localhost', clock: () => new Date(now) });
    browser = await openBrowser({ viewport: { width: 390, height: 844 } });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('opens from the footer, switches period, has no serious axe violations and fits 390 px', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png(), filename: 'a.png' })).json() as { id: string };
    for (const reason of ['spam', 'spam', 'spam', 'harassment']) expect((await reportTarget(app, image.id, { reason })).status).to.equal(201);
    now = Date.UTC(2010, 8, 1, 12); // September: the second half-year, with one report so far
    expect((await reportTarget(app, image.id, { reason: 'spam' })).status).to.equal(201);

    const { page } = browser;
    await page.goto(`${app.url}/`);
    await page.locator('footer').getByRole('link', { name: 'Transparency' }).click();
    await page.waitForURL(/\/transparency$/);
    expect(await page.locator('h1').textContent()).to.equal('Transparency report: July to December 2010 (so far)');
    expect(await page.locator('[data-figure="reports.reason.spam"]').textContent()).to.equal('fewer than 3');
    expect(await page.locator('.period-nav a[aria-current="page"]').textContent()).to.equal('July to December 2010 (so far)');
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(await fits(), 'no sideways scrolling at 390 px').to.equal(true);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);

    await page.getByRole('link', { name: 'January to June 2010' }).click();
    await page.waitForURL(/period=2010-H1$/);
    expect(await page.locator('h1').textContent()).to.equal('Transparency report: January to June 2010');
    // Spam 3 and harassment 1 of 4: showing the 3 and the 4 would give the 1 away, so neither is shown.
    expect(await page.locator('[data-figure="reports.reason.harassment"]').textContent()).to.equal('fewer than 3');
    expect(await page.locator('[data-figure="reports.reason.spam"]').textContent()).to.equal('not shown');
    expect(await page.locator('[data-figure="reports.total"]').textContent()).to.equal('not shown');
    expect(await page.locator('[data-figure="reports.reason.csam"]').textContent()).to.equal('0');
    expect(await page.locator('[data-figure="reports.reason.spam"]').getAttribute('data-query')).to.equal('transparency.reportsByReason');
    expect(await fits(), 'no sideways scrolling at 390 px').to.equal(true);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
