import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtures } from '../fixtures/images.js';
import { waitForEmptyTemp } from '../helpers/assertions.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Upload by URL from the home page, in real Chromium; the "remote" is a loopback server OUTBOUND_ALLOW opens, which
 * only signed-in accounts' links may reach (a guest's link must lead to a public address).
 */
describe('browser: upload from a link on the home page', function () {
  this.timeout(120_000);
  let remote: Server;
  let remoteUrl: string;
  const hits: string[] = [];
  let app: TestApp;
  let browser: TestBrowser;

  before(async () => {
    const png = await fixtures.png();
    remote = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/photo.png') res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length }).end(png);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
    remoteUrl = `http://127.0.0.1:${(remote.address() as AddressInfo).port}`;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        remote.closeAllConnections();
        remote.close(() => resolve());
      }),
  );
  beforeEach(async () => {
    hits.length = 0;
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1' });
  });
  afterEach(async () => {
    await browser?.close();
    await app.close();
  });

  it('a signed-in account pastes a link, keeps the source, lands on the result page, and the image shows', async () => {
    browser = await openBrowser();
    const { page } = browser;
    const alice = await signedInUser(app);
    await logIn(page, app.url, alice);
    await page.goto(app.url);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    await page.getByLabel('Link to an image (http or https)').fill(`${remoteUrl}/photo.png`);
    await page.getByLabel('Keep the link to where it came from', { exact: false }).check();
    await Promise.all([page.waitForURL(/\/upload\/[0-9A-Za-z]{12}$/), page.getByRole('button', { name: 'Fetch image' }).click()]);
    const id = /\/upload\/([0-9A-Za-z]{12})$/.exec(page.url())![1]!;
    const width = await page.locator('.result-thumb img').evaluate((img) => (img as HTMLImageElement).decode().then(() => (img as HTMLImageElement).naturalWidth));
    expect(width).to.be.greaterThan(0);
    expect(hits).to.deep.equal(['/photo.png']);

    const row = await app.db('images').where({ id }).first();
    expect(row).to.include({ source_url: `${remoteUrl}/photo.png`, owner_id: alice.id });

    await page.goto(`${app.url}/i/${id}`);
    const source = page.locator('#source-link');
    expect(await source.getAttribute('href')).to.equal(`${remoteUrl}/photo.png`);
    expect(await source.getAttribute('rel')).to.equal('nofollow noopener noreferrer ugc');
    // The browser itself never went to the remote: the server fetched it.
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  it('a guest pastes a link, lands on the result page with the delete link, and the image shows (loopback opened to guests for this test)', async () => {
    // Production gives guests public addresses only; this machine has none, so this app lets guests reach the loopback remote.
    const open = await startTestApp({}, { guestOutboundAllow: ['127.0.0.1'] });
    try {
      browser = await openBrowser();
      const { page } = browser;
      await page.goto(open.url);
      await page.getByLabel('Link to an image (http or https)').fill(`${remoteUrl}/photo.png`);
      await Promise.all([page.waitForURL(/\/upload\/[0-9A-Za-z]{12}$/), page.getByRole('button', { name: 'Fetch image' }).click()]);
      const id = /\/upload\/([0-9A-Za-z]{12})$/.exec(page.url())![1]!;
      const width = await page.locator('.result-thumb img').evaluate((img) => (img as HTMLImageElement).decode().then(() => (img as HTMLImageElement).naturalWidth));
      expect(width).to.be.greaterThan(0);
      expect(await page.content()).to.match(new RegExp(`/delete/${id}/[0-9A-Za-z]{24}`));
      expect(hits).to.deep.equal(['/photo.png']);
      expect((await open.db('images').where({ id }).first()).owner_id).to.equal(null);
      expect(foreignRequests(browser.requests, open.url)).to.deep.equal([]);
      expect(browser.consoleErrors).to.deep.equal([]);
    } finally {
      await open.close();
    }
  });

  it('shows a guest why a link is refused on the page (public addresses only), and keeps the link for another try', async () => {
    browser = await openBrowser();
    const { page } = browser;
    await page.goto(app.url);
    // Listed in OUTBOUND_ALLOW, which opens it to accounts only.
    const refused = `${remoteUrl}/photo.png`;
    await page.locator('#url').fill(refused);
    await page.locator('#url').press('Enter'); // the link's button is the form's default one
    const status = page.locator('#status.error');
    await status.waitFor();
    expect(await status.textContent()).to.match(/private or local address.*must lead to a public address/);
    expect(page.url()).to.equal(`${app.url}/`);
    expect(await page.locator('#url').inputValue()).to.equal(refused);
    expect(await page.evaluate(() => document.activeElement?.id), 'focus returns to the link field').to.equal('url');
    expect(await page.locator('#url-submit').isEnabled()).to.equal(true);
    expect(hits).to.deep.equal([]);
    expect(await app.db('images')).to.have.length(0);
    expect(browser.consoleErrors.filter((e) => !/status of 422/.test(e))).to.deep.equal([]);
  });

  it('works without JavaScript: the plain form posts the link and redirects to the result page', async () => {
    browser = await openBrowser({ javaScriptEnabled: false });
    const { page } = browser;
    await logIn(page, app.url, await signedInUser(app));
    await page.goto(app.url);
    await page.locator('#url').fill(`${remoteUrl}/photo.png`);
    await Promise.all([page.waitForURL(/\/upload\/[0-9A-Za-z]{12}$/), page.locator('#url-submit').click()]);
    expect(await page.locator('h1').textContent()).to.equal('Your image is up');
    const rows = await app.db('images').select('source_url');
    expect(rows).to.deep.equal([{ source_url: null }]);
  });
});
