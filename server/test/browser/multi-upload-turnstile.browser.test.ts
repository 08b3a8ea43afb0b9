import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, type TestBrowser } from '../helpers/browser.js';
import { serveWidgetLocally, startFakeTurnstile, turnstileEnv, WIDGET_URL, type FakeTurnstile, type LocalWidget } from '../helpers/fake-turnstile.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { imageCount, settled } from '../helpers/upload-list.js';

describe('browser: several files at once behind Turnstile', function () {
  this.timeout(60_000);
  let fake: FakeTurnstile;
  let app: TestApp;
  let browser: TestBrowser;
  let widget: LocalWidget;
  beforeEach(async () => {
    fake = await startFakeTurnstile();
    app = await startTestApp(turnstileEnv(fake), { publicHost: 'localhost' });
    browser = await openBrowser();
    widget = await serveWidgetLocally(browser.context, fake, { tokens: 6 });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
    await fake.close();
  });

  it('spends one fresh bot-check token per file', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.locator('.cf-turnstile input[name="cf-turnstile-response"]').waitFor({ state: 'attached' });
    const png = await fixtures.png(64, 48);
    await page.locator('#file').setInputFiles(['a', 'b', 'c'].map((n) => ({ name: `${n}.png`, mimeType: 'image/png', buffer: png })));
    const done = await settled(page, 3);
    expect(done.map((r) => r.status)).to.deep.equal(['Uploaded.', 'Uploaded.', 'Uploaded.']);
    expect(await imageCount(app)).to.equal(3);
    expect(fake.requests).to.have.length(3);
    expect(new Set(fake.requests.map((r) => r.response)).size, 'every request carried its own token').to.equal(3);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([WIDGET_URL]);
  });

  it('keeps a file that was waiting for the bot check when more are added, and uploads all once it is solved', async () => {
    const { page } = browser;
    const release = await widget.hold();
    await page.goto(app.url, { waitUntil: 'domcontentloaded' });
    const png = await fixtures.png(64, 48);
    await page.locator('#file').setInputFiles({ name: 'early.png', mimeType: 'image/png', buffer: png });
    await page.locator('#status').filter({ hasText: 'Complete the bot check' }).waitFor();
    await page.locator('#file').setInputFiles([
      { name: 'later-1.png', mimeType: 'image/png', buffer: png },
      { name: 'later-2.png', mimeType: 'image/png', buffer: png },
    ]);
    await page.locator('#status').filter({ hasText: 'the uploads will start' }).waitFor();
    expect(await imageCount(app)).to.equal(0);
    release();
    const done = await settled(page, 3);
    expect(done.map((r) => [r.name, r.status])).to.deep.equal([['early.png', 'Uploaded.'], ['later-1.png', 'Uploaded.'], ['later-2.png', 'Uploaded.']]);
    expect(await imageCount(app)).to.equal(3);
    expect(new Set(fake.requests.map((r) => r.response)).size).to.equal(3);
  });
});
