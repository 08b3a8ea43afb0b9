import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, type TestBrowser } from '../helpers/browser.js';
import { rawRequest } from '../helpers/http.js';
import { s3Env, startS3Server, type S3Server } from '../helpers/s3.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: images served from an S3 bucket by presigned redirect', function () {
  this.timeout(90_000);
  let s3: S3Server;
  let app: TestApp;
  let browser: TestBrowser;
  before(async () => {
    s3 = await startS3Server();
    await s3.createBucket('browser');
  });
  after(async () => {
    await s3.close();
  });
  beforeEach(async () => {
    app = await startTestApp(s3Env(s3.endpoint, 'browser', { S3_SERVE_MODE: 'presigned' }), { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('uploads, shows the result and share pages with images loaded from the bucket (and nowhere else), then deletes', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.locator('#file').setInputFiles({ name: 'bucket.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w{12}$/);
    const shareUrl = await page.locator('#share-link').inputValue();
    const directUrl = await page.locator('#direct-link').inputValue();
    const deleteUrl = await page.locator('#delete-link').inputValue();
    expect(directUrl.startsWith(app.url), 'the links handed out are the app’s own, never the bucket’s').to.equal(true);

    await page.goto(shareUrl);
    const img = page.locator('main img').first();
    expect(await img.evaluate((el: HTMLImageElement) => el.decode().then(() => el.naturalWidth))).to.be.greaterThan(0);
    const bucketRequests = foreignRequests(browser.requests, app.url);
    expect(bucketRequests.length).to.be.greaterThan(0);
    for (const url of bucketRequests) {
      expect(new URL(url).origin, url).to.equal(s3.endpoint);
      expect(new URL(url).pathname, url).to.match(/^\/browser\/(images|thumbs)\/\w{2}\/\w{12}\.(png|webp)$/);
      expect(new URL(url).searchParams.get('X-Amz-Signature'), url).to.match(/^[0-9a-f]{64}$/);
    }
    expect(browser.consoleErrors, 'no CSP violation').to.deep.equal([]);

    await page.goto(deleteUrl);
    await page.getByRole('button', { name: 'Delete permanently' }).click();
    await page.waitForLoadState();
    expect(await page.textContent('main')).to.match(/deleted/i);
    const after = await rawRequest(directUrl);
    expect(after.status).to.equal(404);
    expect(after.headers.location).to.equal(undefined);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.have.length(3);
  });
});
