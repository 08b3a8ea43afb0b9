import { expect } from 'chai';
import exifr from 'exifr';
import sharp from 'sharp';
import { fixtures } from '../fixtures/images.js';
import { dataTransferWith, foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest } from '../helpers/http.js';
import { waitForEmptyTemp } from '../helpers/assertions.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

async function bigJpeg(): Promise<Buffer> {
  const width = 1600;
  const height = 1200;
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 2/1' } }).toBuffer();
}

describe('browser: the guest journey', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser({ permissions: ['clipboard-read', 'clipboard-write'] });
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('uploads with the file picker while the progress bar moves, copies the link, opens the share page and deletes', async () => {
    const { page } = browser;
    await page.goto(app.url);
    // Slow the upload down so the progress events are observable.
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 600 * 1024 });

    const photo = await bigJpeg();
    const seen: number[] = [];
    await page.locator('#file').setInputFiles({ name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: photo });
    while (!/\/upload\/\w+$/.test(page.url())) {
      const value = await page.evaluate(() => (document.getElementById('progress') as HTMLProgressElement | null)?.value ?? -1).catch(() => -1);
      if (value >= 0) seen.push(value);
      await page.waitForTimeout(40);
    }
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const inBetween = seen.filter((v) => v > 0 && v < 100);
    expect(inBetween.length, `progress values seen: ${seen.join(',')}`).to.be.greaterThan(1);
    expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress never goes backwards').to.equal(true);

    // The result page: every snippet, and the delete link once.
    await page.waitForLoadState();
    const shareUrl = await page.locator('#share-link').inputValue();
    const directUrl = await page.locator('#direct-link').inputValue();
    const deleteUrl = await page.locator('#delete-link').inputValue();
    expect(shareUrl).to.match(new RegExp(`^${app.url}/i/\\w{12}$`));
    expect(await page.locator('#markdown').inputValue()).to.include(directUrl);
    expect(await page.locator('#bbcode').inputValue()).to.include(`[img]${directUrl}[/img]`);
    expect(await page.locator('#html').inputValue()).to.include(`<img src="${directUrl}"`);

    await page.getByRole('button', { name: 'Copy Share page' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).to.equal(shareUrl);
    await page.getByRole('button', { name: 'Copy Share page' }).filter({ hasText: 'Copied' }).waitFor();

    // A reload no longer shows the delete link.
    await page.reload();
    expect(await page.locator('#delete-link').count()).to.equal(0);
    expect(await page.textContent('body')).to.include('cannot be shown again');

    // The share page shows the image, decoded, without its GPS.
    await page.goto(shareUrl);
    const img = page.locator('main img').first();
    await expect(await img.evaluate((el: HTMLImageElement) => el.decode().then(() => el.naturalWidth))).to.equal(1600);
    expect(await page.textContent('main')).to.include('1600 × 1200');
    const served = await rawRequest(directUrl);
    expect(await exifr.gps(served.body).catch(() => undefined)).to.equal(undefined);

    // Delete: the GET asks, the button deletes, every link is gone.
    await page.goto(deleteUrl);
    await page.getByRole('button', { name: 'Delete permanently' }).click();
    await page.waitForLoadState();
    expect(await page.textContent('main')).to.match(/deleted/i);
    for (const url of [shareUrl, directUrl]) expect((await rawRequest(url)).status).to.equal(404);
    expect(await app.storedKeys()).to.deep.equal([]);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('uploads by drag-and-drop and by pasting from the clipboard', async () => {
    const { page } = browser;
    await page.goto(app.url);
    const png = await fixtures.png();
    await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer: await dataTransferWith(page, { bytes: png, name: 'dropped.png', type: 'image/png' }) });
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(await page.locator('#delete-link').inputValue()).to.match(/\/delete\/\w{12}\/\w{24}$/);
    expect(await page.locator('#markdown').inputValue()).to.include('dropped.png');

    await page.goto(app.url);
    const pasted = await dataTransferWith(page, { bytes: await fixtures.webp(), name: 'image.webp', type: 'image/webp' });
    await page.evaluate((dt) => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true })), pasted);
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(await page.locator('#direct-link').inputValue()).to.match(/\.webp$/);
    expect(Number((await app.db('images').count({ n: '*' }))[0]!.n)).to.equal(2);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });

  it('checks size and type before uploading, and shows the server\'s message without retrying by itself', async () => {
    const { page } = browser;
    await page.clock.install();
    await page.goto(app.url);
    await page.locator('#file').setInputFiles({ name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: fixtures.svgWithScript() });
    await expect(await page.locator('#status').textContent()).to.match(/not a supported image/);

    const uploads: string[] = [];
    page.on('request', (r) => r.method() === 'POST' && uploads.push(r.url()));
    // Claims to be a PNG, so it passes the browser's check; the server reads the bytes and refuses it.
    await page.locator('#file').setInputFiles({ name: 'page.png', mimeType: 'image/png', buffer: fixtures.htmlAsPng() });
    await page.locator('#status.error').filter({ hasText: 'web page, not an image' }).waitFor();
    // A retry would come from a timer: move the page's clock a minute on, firing every timer due by then.
    await page.clock.runFor(60_000);
    expect(await page.locator('#status').textContent(), 'no new attempt (it would say Uploading…)').to.include('web page, not an image');
    expect(uploads).to.have.length(1);
    expect(await page.locator('#progress').isHidden()).to.equal(true);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  it('works as a plain form post with JavaScript off', async () => {
    const noJs = await openBrowser({ javaScriptEnabled: false });
    try {
      await noJs.page.goto(app.url);
      await noJs.page.locator('#file').setInputFiles({ name: 'plain.png', mimeType: 'image/png', buffer: await fixtures.png() });
      await noJs.page.getByRole('button', { name: 'Upload' }).click();
      await noJs.page.waitForURL(/\/upload\/\w{12}$/);
      expect(await noJs.page.locator('#delete-link').inputValue()).to.match(/\/delete\/\w{12}\/\w{24}$/);
    } finally {
      await noJs.close();
    }
  });

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`home, result and share pages have no serious or critical accessibility violations (${colorScheme})`, async () => {
      const themed = await openBrowser({ colorScheme });
      try {
        const { page } = themed;
        await page.goto(app.url);
        expect(await seriousA11yViolations(page), 'home').to.deep.equal([]);
        await page.locator('#file').setInputFiles({ name: 'a11y.png', mimeType: 'image/png', buffer: await fixtures.png() });
        await page.waitForURL(/\/upload\/\w{12}$/);
        expect(await seriousA11yViolations(page), 'result').to.deep.equal([]);
        await page.goto(await page.locator('#share-link').inputValue());
        expect(await seriousA11yViolations(page), 'share').to.deep.equal([]);
        expect(foreignRequests(themed.requests, app.url)).to.deep.equal([]);
      } finally {
        await themed.close();
      }
    });
  }

  it('fits a phone screen without sideways scrolling', async () => {
    const phone = await openBrowser({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    try {
      await phone.page.goto(app.url);
      expect(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).to.equal(true);
      await phone.page.locator('#file').setInputFiles({ name: 'phone.png', mimeType: 'image/png', buffer: await fixtures.png() });
      await phone.page.waitForURL(/\/upload\/\w{12}$/);
      expect(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).to.equal(true);
    } finally {
      await phone.close();
    }
  });
});
