import { expect } from 'chai';
import sharp from 'sharp';
import { fixtures } from '../fixtures/images.js';
import { signedInUser } from '../helpers/accounts.js';
import { waitForEmptyTemp } from '../helpers/assertions.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { dataTransferOf, imageCount, rows, settled } from '../helpers/upload-list.js';

/** A JPEG of noise, big enough that its progress can be watched on a throttled link. */
function noisyJpeg(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
}

describe('browser: several files at once on the upload page', function () {
  this.timeout(120_000);
  let app: TestApp;
  let browser: TestBrowser;
  const start = async (env: Record<string, string> = {}) => {
    app = await startTestApp({ GUEST_RETENTION_OPTIONS: 'never,1d,7d', ...env }, { publicHost: 'localhost' });
  };
  beforeEach(async () => {
    browser = await openBrowser({ permissions: ['clipboard-read', 'clipboard-write'] });
  });
  afterEach(async () => {
    await browser.close();
    await app?.close();
  });

  it('uploads two dropped files, each with its own progress bar, result and delete link, with the chosen expiry', async () => {
    await start();
    const { page } = browser;
    await page.goto(app.url);
    await page.locator('#expires').selectOption('1d');
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1500 * 1024 });

    const [first, second] = [await noisyJpeg(1200, 900), await noisyJpeg(1100, 800)];
    const dropped = await dataTransferOf(page, [
      { bytes: first, name: 'first.jpg', type: 'image/jpeg' },
      { bytes: second, name: 'second.jpg', type: 'image/jpeg' },
    ]);
    await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer: dropped });
    // Both bars move on their own while the files go up side by side.
    const seen: Array<[number, number]> = [];
    while ((await page.locator('#upload-list > li.done, #upload-list > li.failed').count()) < 2) {
      const bars = await page.locator('#upload-list progress').evaluateAll((els) => els.map((el) => (el as HTMLProgressElement).value));
      if (bars.length === 2) seen.push([bars[0]!, bars[1]!]);
      await page.waitForTimeout(40);
    }
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    for (const i of [0, 1]) expect(seen.filter((s) => s[i]! > 0 && s[i]! < 100).length, `bar ${i}: ${seen.map((s) => s[i]).join(',')}`).to.be.greaterThan(0);

    const done = await rows(page);
    expect(page.url(), 'stays on the page with the list').to.equal(`${app.url}/`);
    expect(done.map((r) => r.name)).to.deep.equal(['first.jpg', 'second.jpg']);
    expect(done.map((r) => r.progressLabel)).to.deep.equal(['Upload progress of first.jpg', 'Upload progress of second.jpg']);
    expect(done.every((r) => r.progress === 100 && r.status === 'Uploaded.')).to.equal(true);
    expect(await imageCount(app)).to.equal(2);
    const stored = (await app.db('images').select('id', 'original_name', 'expires_at', 'owner_id')) as Array<{ id: string; original_name: string; expires_at: unknown; owner_id: string | null }>;
    expect(stored.map((r) => r.original_name).sort()).to.deep.equal(['first.jpg', 'second.jpg']);
    expect(stored.every((r) => r.expires_at !== null && r.owner_id === null), 'the expiry choice applies to every file').to.equal(true);

    // Working links, and two different one-time delete links.
    expect(done[0]!.del).to.not.equal(done[1]!.del);
    for (const row of done) {
      expect(row.share).to.match(new RegExp(`^${app.url}/i/\\w{12}$`));
      expect((await rawRequest(row.share!)).status).to.equal(200);
      expect((await rawRequest(row.direct!)).status).to.equal(200);
      expect(row.del).to.match(new RegExp(`^${app.url}/delete/\\w{12}/\\w{24}$`));
    }
    expect(await page.locator('#upload-list img').evaluateAll((imgs) => Promise.all(imgs.map((img) => (img as HTMLImageElement).decode().then(() => (img as HTMLImageElement).naturalWidth))))).to.satisfy((ws: number[]) => ws.length === 2 && ws.every((w) => w > 0));
    expect(await page.textContent('#upload-batch')).to.include('shown only once');
    expect(await page.locator('#status').textContent()).to.include('2 of 2 uploaded.');
    expect(await page.evaluate(() => document.activeElement?.id), 'focus moves to the results').to.equal('upload-batch-heading');

    await page.getByRole('button', { name: 'Copy Direct link of second.jpg' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).to.equal(done[1]!.direct);

    // Each delete link deletes its own image only.
    await page.goto(done[0]!.del!);
    await page.getByRole('button', { name: 'Delete permanently' }).click();
    await page.waitForLoadState();
    expect((await rawRequest(done[0]!.share!)).status).to.equal(404);
    expect((await rawRequest(done[1]!.share!)).status).to.equal(200);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('shows the error of a file that is too large or refused, and uploads the others', async () => {
    await start({ MAX_UPLOAD_BYTES: String(64 * 1024) });
    const { page } = browser;
    await page.goto(app.url);
    const small = await fixtures.png(40, 30);
    const big = await noisyJpeg(800, 600);
    expect(big.length).to.be.greaterThan(64 * 1024);
    await page.locator('#file').setInputFiles([
      { name: 'ok-1.png', mimeType: 'image/png', buffer: small },
      { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: big },
      { name: 'ok-2.png', mimeType: 'image/png', buffer: await fixtures.png(48, 32) },
      // Passes the browser's check; the server reads the bytes and answers with its own error.
      { name: 'page.png', mimeType: 'image/png', buffer: fixtures.htmlAsPng() },
    ]);
    const done = await settled(page, 4);
    expect(done.map((r) => [r.name, Boolean(r.share)])).to.deep.equal([['ok-1.png', true], ['huge.jpg', false], ['ok-2.png', true], ['page.png', false]]);
    expect(done[1]!.status).to.match(/larger than the 64 KB limit/);
    expect(done[3]!.status).to.match(/web page, not an image/);
    expect(await page.locator('#upload-list > li.failed progress:visible').count(), 'a failed file shows its error, not a bar').to.equal(0);
    expect(await imageCount(app)).to.equal(2);
    expect(await page.locator('#status').textContent()).to.include('2 of 4 uploaded, 2 failed.');
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
    expect(await seriousA11yViolations(page), 'light').to.deep.equal([]);
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await seriousA11yViolations(page), 'dark').to.deep.equal([]);
  });

  it('uploads several images pasted at once, a few requests at a time', async () => {
    await start();
    const { page } = browser;
    // Counted in the page, where a request's end and the next one's start happen in order.
    await page.addInitScript(() => {
      const w = window as unknown as { inFlight: number; most: number };
      w.inFlight = 0;
      w.most = 0;
      const send = XMLHttpRequest.prototype.send;
      XMLHttpRequest.prototype.send = function (this: XMLHttpRequest, body) {
        w.most = Math.max(w.most, (w.inFlight += 1));
        // readyState 4 comes before the load event, in which the page may start the next file.
        this.addEventListener('readystatechange', () => this.readyState === XMLHttpRequest.DONE && (w.inFlight -= 1));
        send.call(this, body);
      };
    });
    await page.goto(app.url);
    const png = await fixtures.png();
    const pasted = await dataTransferOf(page, [
      ...[1, 2, 3, 4].map((n) => ({ bytes: png, name: `image-${n}.png`, type: 'image/png' })),
      { bytes: await fixtures.webp(), name: 'image.webp', type: 'image/webp' },
    ]);
    await page.evaluate((dt) => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true })), pasted);
    const done = await settled(page, 5);
    expect(done.map((r) => r.direct?.split('.').pop())).to.deep.equal(['png', 'png', 'png', 'png', 'webp']);
    expect(await imageCount(app)).to.equal(5);
    const most = await page.evaluate(() => (window as unknown as { most: number }).most);
    expect(most, 'three uploads at once, never more').to.equal(3);
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the list fits a phone screen').to.equal(true);
  });

  it('lands a signed-in batch in My images', async () => {
    await start();
    const user = await signedInUser(app);
    const { page } = browser;
    await logIn(page, app.url, user);
    await page.goto(app.url);
    await page.locator('#file').setInputFiles([
      { name: 'mine-a.png', mimeType: 'image/png', buffer: await fixtures.png() },
      { name: 'mine-b.png', mimeType: 'image/png', buffer: await fixtures.png(200, 100) },
      { name: 'mine-c.webp', mimeType: 'image/webp', buffer: await fixtures.webp() },
    ]);
    const done = await settled(page, 3);
    expect(done.every((r) => r.share !== null)).to.equal(true);
    expect(await page.textContent('#upload-batch')).to.include('My images');
    const owned = (await app.db('images').where({ owner_id: user.id }).select('original_name', 'expires_at')) as Array<{ original_name: string; expires_at: unknown }>;
    expect(owned.map((r) => r.original_name).sort()).to.deep.equal(['mine-a.png', 'mine-b.png', 'mine-c.webp']);
    expect(owned.every((r) => r.expires_at === null)).to.equal(true);
    await page.goto(`${app.url}/account/images`);
    for (const name of ['mine-a.png', 'mine-b.png', 'mine-c.webp']) expect(await page.textContent('main')).to.include(name);
  });

  it('keeps the result-page flow for a single file, and adds more files to the list once a batch has begun', async () => {
    await start();
    const { page } = browser;
    await page.goto(app.url);
    expect(await page.locator('#file').evaluate((el: HTMLInputElement) => el.multiple)).to.equal(true);
    await page.locator('#file').setInputFiles({ name: 'alone.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w{12}$/);
    expect(await page.locator('#delete-link').inputValue()).to.match(/\/delete\/\w{12}\/\w{24}$/);

    await page.goto(app.url);
    await page.locator('#file').setInputFiles([
      { name: 'one.png', mimeType: 'image/png', buffer: await fixtures.png() },
      { name: 'two.png', mimeType: 'image/png', buffer: await fixtures.png() },
    ]);
    await settled(page, 2);
    await page.locator('#file').setInputFiles({ name: 'three.png', mimeType: 'image/png', buffer: await fixtures.png() });
    const done = await settled(page, 3);
    expect(page.url()).to.equal(`${app.url}/`);
    expect(done.map((r) => r.name)).to.deep.equal(['one.png', 'two.png', 'three.png']);
    expect(await imageCount(app)).to.equal(4);
  });

  it('posts one file as a plain form with JavaScript off', async () => {
    await start();
    const noJs = await openBrowser({ javaScriptEnabled: false });
    try {
      await noJs.page.goto(app.url);
      expect(await noJs.page.locator('#file[multiple]').count(), 'the plain form takes one file, as its route does').to.equal(0);
      expect(await noJs.page.locator('#upload-batch').isHidden()).to.equal(true);
      await noJs.page.locator('#file').setInputFiles({ name: 'plain.png', mimeType: 'image/png', buffer: await fixtures.png() });
      await noJs.page.getByRole('button', { name: 'Upload' }).click();
      await noJs.page.waitForURL(/\/upload\/\w{12}$/);
      expect(await noJs.page.locator('#delete-link').inputValue()).to.match(/\/delete\/\w{12}\/\w{24}$/);
      expect(foreignRequests(noJs.requests, app.url)).to.deep.equal([]);
    } finally {
      await noJs.close();
    }
  });
});
