import { expect } from 'chai';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtures } from '../fixtures/images.js';
import { openBrowser, type TestBrowser } from '../helpers/browser.js';
import { upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

type OembedPhoto = { type: string; url: string; width: number; height: number; thumbnail_url: string };

describe('browser: oEmbed discovery from a share page', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({ DISPLAY_MAX_PX: '300' }, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('finds the discovery link, fetches the photo answer (also cross-origin) and loads its picture', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png(640, 480), filename: 'embed.png' })).json() as { pageUrl: string; id: string };
    const { page } = browser;
    await page.goto(image.pageUrl);
    const link = page.locator('head link[rel="alternate"][type="application/json+oembed"]');
    expect(await link.count()).to.equal(1);
    const href = (await link.getAttribute('href'))!;
    expect(new URL(href).searchParams.get('url')).to.equal(image.pageUrl);

    // A consumer reads it with maxwidth, as a chat client sizing its preview does.
    const sized = `${href}&maxwidth=150`;
    const photo = await page.evaluate(async (u) => (await fetch(u)).json(), sized) as OembedPhoto;
    expect(photo).to.include({ type: 'photo', url: `${app.url}/d/${image.id}.webp`, width: 150, height: 113 });

    // The picture it names loads as an image, at the display variant's own size.
    const natural = await page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }, photo.url);
    expect(natural).to.deep.equal([300, 225]);
    const thumbWidth = await page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      return img.naturalWidth;
    }, photo.thumbnail_url);
    expect(thumbWidth).to.be.greaterThan(0);

    // From another origin (a consumer's own page, served on 127.0.0.1 with no CSP), the CORS header lets a
    // browser read the answer.
    const consumer = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>consumer</title>'));
    await new Promise<void>((resolve) => consumer.listen(0, '127.0.0.1', resolve));
    let crossOrigin: { status: number; body: { type: string } };
    try {
      await page.goto(`http://127.0.0.1:${(consumer.address() as AddressInfo).port}/`);
      crossOrigin = await page.evaluate(async (u) => {
        const res = await fetch(u, { mode: 'cors' });
        return { status: res.status, body: (await res.json()) as { type: string } };
      }, href);
    } finally {
      consumer.closeAllConnections();
      await new Promise((resolve) => consumer.close(resolve));
    }
    expect(crossOrigin.status).to.equal(200);
    expect(crossOrigin.body.type).to.equal('photo');
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
