import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, type TestBrowser } from '../helpers/browser.js';
import { serveWidgetLocally, startFakeTurnstile, turnstileEnv, WIDGET_URL, type FakeTurnstile, type LocalWidget } from '../helpers/fake-turnstile.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: uploading behind Turnstile', function () {
  this.timeout(60_000);
  let fake: FakeTurnstile;
  let app: TestApp;
  let browser: TestBrowser;
  let widget: LocalWidget;
  beforeEach(async () => {
    fake = await startFakeTurnstile();
    app = await startTestApp(turnstileEnv(fake), { publicHost: 'localhost' });
    browser = await openBrowser();
    widget = await serveWidgetLocally(browser.context, fake, { tokens: 3 });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
    await fake.close();
  });

  it('loads the widget from Cloudflare only, solves it, and the upload verifies server-side', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.locator('.cf-turnstile input[name="cf-turnstile-response"]').waitFor({ state: 'attached' });
    await page.locator('#file').setInputFiles({ name: 'guarded.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(await page.locator('#delete-link').inputValue()).to.match(/\/delete\/\w{12}\/\w{24}$/);
    expect(fake.requests).to.have.length(1);
    expect(fake.requests[0]!.secret).to.equal(fake.secret);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([WIDGET_URL]);
    expect(browser.consoleErrors.filter((e) => /Content Security Policy/i.test(e))).to.deep.equal([]);
  });

  it('waits for the bot check when a file is chosen first, then uploads by itself', async () => {
    const { page } = browser;
    // Hold the widget back until the file is chosen.
    const release = await widget.hold(1);
    await page.goto(app.url, { waitUntil: 'domcontentloaded' });
    await page.locator('#file').setInputFiles({ name: 'early.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.locator('#status').filter({ hasText: 'Complete the bot check' }).waitFor();
    release();
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(fake.requests).to.have.length(1);
  });

  it('shows a clear message and uploads nothing when siteverify is down', async () => {
    const { page } = browser;
    fake.mode = 'down';
    await page.goto(app.url);
    await page.locator('.cf-turnstile input[name="cf-turnstile-response"]').waitFor({ state: 'attached' });
    await page.locator('#file').setInputFiles({ name: 'down.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.locator('#status.error').filter({ hasText: 'nothing was uploaded' }).waitFor();
    expect(Number((await app.db('images').count({ n: '*' }))[0]!.n)).to.equal(0);
  });

  it('does not upload again by itself when a fresh bot check follows an error a new token cannot fix', async () => {
    const { page } = browser;
    const posts: string[] = [];
    page.on('request', (r) => r.method() === 'POST' && posts.push(r.url()));
    await page.clock.install();
    await page.goto(app.url);
    await page.locator('.cf-turnstile input[name="cf-turnstile-response"]').waitFor({ state: 'attached' });
    await page.locator('#file').setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: fixtures.htmlAsPng() });
    await page.locator('#status.error').filter({ hasText: 'web page, not an image' }).waitFor();
    // The widget was reset and solved again (a token is single use); the page must not loop on the same file.
    await page.waitForFunction(() => (document.querySelector('[name="cf-turnstile-response"]') as HTMLInputElement).value !== '');
    // The widget calls back from a timer, and a retry would come from one: move the page's clock a minute on,
    // firing every timer due by then.
    await page.clock.runFor(60_000);
    expect(await page.locator('#status').textContent(), 'no new attempt (it would say Uploading…)').to.include('web page, not an image');
    expect(posts).to.have.length(1);
  });
});
