import { expect } from 'chai';
import sharp from 'sharp';
import { fixtures } from '../fixtures/images.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

type Uploaded = { id: string; url: string; pageUrl: string; thumbnailUrl: string; deleteUrl: string; size: number; width: number; height: number };

describe('serving images and pages', () => {
  let app: TestApp;
  let image: Uploaded;
  let original: Buffer;
  beforeEach(async () => {
    app = await startTestApp();
    image = (await upload(app.url, { bytes: await fixtures.jpegWithGps(), filenameStar: 'sunset "beach".jpg' })).json();
    original = (await rawRequest(image.url)).body;
  });
  afterEach(() => app.close());

  it('serves the direct image with its type, nosniff, a sandboxing CSP and a year of immutable caching', async () => {
    const res = await rawRequest(image.url);
    expect(res.status).to.equal(200);
    expect(res.headers).to.include({
      'content-type': 'image/jpeg',
      'x-content-type-options': 'nosniff',
      'cache-control': 'public, max-age=31536000, immutable',
      'accept-ranges': 'bytes',
      'content-length': String(image.size),
    });
    expect(res.headers['content-security-policy']).to.match(/default-src 'none'/).and.match(/sandbox/);
    expect(res.headers.etag).to.match(/^"[0-9a-f]{32}"$/);
    expect(res.headers['content-disposition']).to.equal('inline; filename="sunset \\"beach\\".jpg"');
    expect((await sharp(res.body).metadata()).format).to.equal('jpeg');
  });

  it('answers 304 to a conditional GET with the ETag, with no body', async () => {
    const { etag } = (await rawRequest(image.url)).headers;
    const res = await rawRequest(image.url, { headers: { 'If-None-Match': String(etag) } });
    expect(res.status).to.equal(304);
    expect(res.body.length).to.equal(0);
    expect(res.headers.etag).to.equal(etag);
    const stale = await rawRequest(image.url, { headers: { 'If-None-Match': '"0000"' } });
    expect(stale.status).to.equal(200);
  });

  it('answers HEAD with the same headers as GET and no body', async () => {
    const get = await rawRequest(image.thumbnailUrl);
    const head = await rawRequest(image.thumbnailUrl, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.body.length).to.equal(0);
    for (const name of ['content-type', 'content-length', 'etag', 'cache-control', 'content-security-policy']) {
      expect(head.headers[name], name).to.equal(get.headers[name]);
    }
  });

  it('answers a single byte range with 206 and exactly those bytes', async () => {
    const res = await rawRequest(image.url, { headers: { Range: 'bytes=10-109' } });
    expect(res.status).to.equal(206);
    expect(res.headers['content-range']).to.equal(`bytes 10-109/${original.length}`);
    expect(res.body.equals(original.subarray(10, 110))).to.equal(true);
    const suffix = await rawRequest(image.url, { headers: { Range: 'bytes=-50' } });
    expect(suffix.status).to.equal(206);
    expect(suffix.body.equals(original.subarray(-50))).to.equal(true);
  });

  it('answers an unsatisfiable range with 416 and the real length', async () => {
    const res = await rawRequest(image.url, { headers: { Range: `bytes=${original.length + 10}-` } });
    expect(res.status).to.equal(416);
    expect(res.headers['content-range']).to.equal(`bytes */${original.length}`);
  });

  it('sends the whole file for multi-range, malformed ranges and a stale If-Range', async () => {
    const variants: Array<Record<string, string>> = [{ Range: 'bytes=0-10,20-30' }, { Range: 'chars=0-10' }, { Range: 'bytes=0-10', 'If-Range': '"stale"' }];
    for (const headers of variants) {
      const res = await rawRequest(image.url, { headers });
      expect(res.status, JSON.stringify(headers)).to.equal(200);
      expect(res.body.equals(original)).to.equal(true);
    }
  });

  it('serves the thumbnail as WebP, at most THUMBNAIL_SIZE on its longest side', async () => {
    const res = await rawRequest(image.thumbnailUrl);
    expect(res.headers['content-type']).to.equal('image/webp');
    const meta = await sharp(res.body).metadata();
    expect(Math.max(meta.width!, meta.height!)).to.equal(400);
  });

  it('renders the share page with the image, its details and OpenGraph / Twitter card tags', async () => {
    const res = await rawRequest(image.pageUrl);
    expect(res.status).to.equal(200);
    expect(res.headers['x-robots-tag']).to.equal('noindex');
    const html = res.body.toString();
    expect(html).to.include(`<meta property="og:image" content="${image.url}"`);
    expect(html).to.include(`<meta property="og:url" content="${image.pageUrl}"`);
    expect(html).to.include('<meta property="og:image:width" content="640"');
    expect(html).to.include('<meta name="twitter:card" content="summary_large_image"');
    expect(html).to.include('640 × 480');
    expect(html).to.match(/<time datetime="\d{4}-\d\d-\d\dT/);
    // The user's file name is text, never markup.
    expect(html).to.include('sunset &#34;beach&#34;.jpg');
    expect(html).not.to.include('sunset "beach"');
  });

  it('puts a nonce CSP, frame-ancestors none and a Referrer-Policy on pages, and loads nothing from other origins', async () => {
    for (const url of [`${app.url}/`, image.pageUrl]) {
      const res = await rawRequest(url);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).to.match(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]{16,}'/);
      expect(csp).to.include("frame-ancestors 'none'");
      expect(csp).to.include("object-src 'none'");
      expect(res.headers['referrer-policy']).to.be.a('string');
      const html = res.body.toString();
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      const foreign = refs.filter((r) => /^(https?:)?\/\//.test(r) && !r.startsWith(app.url));
      expect(foreign, url).to.deep.equal([]);
      for (const m of html.matchAll(/<script\b([^>]*)>/g)) expect(m[1], 'every script carries the nonce or is external').to.match(/nonce="|src="/);
    }
  });

  const unknownIds = () => ['AAAAAAAAAAAA', 'zzzzzzzzzzzz'];
  it('gives a missing id, a wrong extension and a never-valid id the same 404, as a page and as JSON', async () => {
    const paths = [
      ...unknownIds().flatMap((id) => [`/i/${id}`, `/i/${id}.jpg`, `/t/${id}.webp`]),
      `/i/${image.id}.png`,
      `/t/${image.id}.jpg`,
      '/i/..%2F..%2Fetc%2Fpasswd',
      '/i/%00',
      `/i/${'x'.repeat(500)}.jpg`,
    ];
    const pages = new Set<string>();
    for (const p of paths) {
      const json = await rawRequest(`${app.url}${p}`, { headers: { Accept: 'application/json' } });
      expectJsonError(json, 404, 'not_found');
      const html = await rawRequest(`${app.url}${p}`, { headers: { Accept: 'text/html' } });
      expect(html.status, p).to.equal(404);
      pages.add(html.body.toString().replace(/nonce-?="?[^"\s;]+"?/g, ''));
      expect(JSON.stringify(json.json())).to.equal(JSON.stringify((await rawRequest(`${app.url}/i/AAAAAAAAAAAA`, { headers: { Accept: 'application/json' } })).json()));
    }
    expect(pages.size, 'the HTML 404 page is identical for every case').to.equal(1);
  });

  it('answers 404, not a broken 200, when a row outlived its bytes', async () => {
    for (const f of await app.storedKeys()) await app.storage.delete(f);
    expect((await rawRequest(image.url)).status).to.equal(404);
    expect((await rawRequest(image.url, { method: 'HEAD' })).status).to.equal(404);
  });

  it('serves static assets from public/ and refuses dotfiles and traversal', async () => {
    expect((await rawRequest(`${app.url}/static/css/app.css`)).status).to.equal(200);
    expect((await rawRequest(`${app.url}/static/../package.json`)).status).to.equal(404);
    expect((await rawRequest(`${app.url}/static/%2e%2e/package.json`)).status).to.equal(404);
  });
});
