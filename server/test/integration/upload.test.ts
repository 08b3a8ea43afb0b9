import { expect } from 'chai';
import exifr from 'exifr';
import sharp from 'sharp';
import { fixtures, MARKERS } from '../fixtures/images.js';
import { waitForEmptyTemp } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

async function fetchBytes(url: string): Promise<Buffer> {
  const res = await rawRequest(url);
  expect(res.status, url).to.equal(200);
  return res.body;
}

/** The four-character chunk ids of a WebP (RIFF) file; EXIF, XMP and ICCP chunks are where metadata would live. */
function webpChunks(bytes: Buffer): string[] {
  expect(bytes.toString('latin1', 0, 4)).to.equal('RIFF');
  expect(bytes.toString('latin1', 8, 12)).to.equal('WEBP');
  const ids: string[] = [];
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const size = bytes.readUInt32LE(offset + 4);
    ids.push(bytes.toString('latin1', offset, offset + 4));
    offset += 8 + size + (size % 2);
  }
  return ids;
}

function expectNoMarkers(bytes: Buffer): void {
  const text = bytes.toString('latin1');
  for (const marker of Object.values(MARKERS)) expect(text, marker).not.to.include(marker);
}

describe('upload (guest, no bot check)', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(() => app.close());

  it('answers 201 with absolute URLs built from PUBLIC_URL and stores exactly three variants', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png(), filename: 'cat.png', contentType: 'image/png' });
    expect(res.status).to.equal(201);
    const body = res.json();
    expect(Object.keys(body).sort()).to.deep.equal(['deleteUrl', 'expiresAt', 'height', 'id', 'mime', 'pageUrl', 'size', 'thumbnailUrl', 'url', 'width'].sort());
    expect(body.id).to.match(/^[0-9A-Za-z]{12}$/);
    expect(body.pageUrl).to.equal(`${app.config.publicUrl}/i/${body.id}`);
    expect(body.url).to.equal(`${app.config.publicUrl}/i/${body.id}.png`);
    expect(body.thumbnailUrl).to.equal(`${app.config.publicUrl}/t/${body.id}.webp`);
    expect(body.deleteUrl).to.match(new RegExp(`^${app.config.publicUrl}/delete/${body.id}/[0-9A-Za-z]{24}$`));
    expect(body).to.include({ width: 320, height: 240, mime: 'image/png' });
    expect(body.size).to.equal((await fetchBytes(body.url)).length);
    expect(await app.storedKeys()).to.have.length(3);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  /** The Set-Cookie header as a Cookie header a browser would send back. */
  const cookieFrom = (res: { headers: Record<string, string | string[] | undefined> }) =>
    ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');

  it('redirects an HTML form post (303) to a result page that shows every link and, once, the delete link', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png(), filename: 'cat.png' }, { json: false });
    expect(res.status).to.equal(303);
    const location = String(res.headers.location);
    const [, id] = /\/upload\/([0-9A-Za-z]{12})$/.exec(location) ?? [];
    expect(id, `the key never appears in the URL: ${location}`).to.be.a('string');
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).to.match(/HttpOnly/i).and.match(/SameSite=Strict/i).and.include(`Path=/upload/${id}`).and.match(/Max-Age=600/);

    const page = await rawRequest(location, { headers: { Cookie: cookieFrom(res) } });
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    expect(String(page.headers['set-cookie']), 'the page clears the one-time cookie').to.match(new RegExp(`pixbin_delete_${id}=;.*Expires=Thu, 01 Jan 1970`));
    const html = page.body.toString();
    const key = new RegExp(`/delete/${id}/([0-9A-Za-z]{24})`).exec(html)?.[1];
    expect(key, 'the delete link is on the page').to.be.a('string');
    expect(html).to.include(`/i/${id}.png`);
    expect(html).to.include('[img]').and.include('![cat.png]').and.include('&lt;a href=');
    expect(html).to.match(/shown only once/);

    // A reload (the browser no longer has the cookie) shows the public links but never the key again.
    const again = await rawRequest(location);
    expect(again.status).to.equal(200);
    expect(again.body.toString()).to.include(`/i/${id}.png`).and.include('cannot be shown again');
    expect(again.body.toString()).not.to.include(`/delete/${id}/`);
  });

  it('JSON uploads hand over the same one-time cookie, so the upload page can open the result page', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() });
    const { id, deleteUrl } = res.json();
    const html = (await rawRequest(`${app.url}/upload/${id}`, { headers: { Cookie: cookieFrom(res) } })).body.toString();
    expect(html).to.include(deleteUrl);
  });

  it("shows no delete link for a forged or another image's cookie, and 404s an unknown id", async () => {
    const a = await upload(app.url, { bytes: await fixtures.png() });
    const b = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const aKey = a.json().deleteUrl.split('/').pop();
    for (const cookie of [`pixbin_delete_${b.id}=${'A'.repeat(24)}`, `pixbin_delete_${b.id}=${aKey}`, `pixbin_delete_${b.id}=<script>`]) {
      const html = (await rawRequest(`${app.url}/upload/${b.id}`, { headers: { Cookie: cookie } })).body.toString();
      expect(html, cookie).not.to.include('/delete/').and.not.include('<script>');
    }
    const missing = await rawRequest(`${app.url}/upload/${'B'.repeat(12)}`, { headers: { Cookie: cookieFrom(a) } });
    expect(missing.status).to.equal(404);
  });

  for (const [name, make, mime, ext] of [
    ['JPEG', fixtures.jpegWithGps, 'image/jpeg', 'jpg'],
    ['PNG', fixtures.png, 'image/png', 'png'],
    ['WebP', fixtures.webp, 'image/webp', 'webp'],
    ['AVIF', fixtures.avif, 'image/avif', 'avif'],
    ['GIF', fixtures.animatedGif, 'image/gif', 'gif'],
  ] as const) {
    it(`accepts ${name}, serves it as ${mime} and makes a WebP thumbnail`, async () => {
      const res = await upload(app.url, { bytes: await make(), filename: `x.${ext}`, contentType: 'application/octet-stream' });
      expect(res.status).to.equal(201);
      const body = res.json();
      expect(body.mime).to.equal(mime);
      expect(body.url).to.match(new RegExp(`\\.${ext}$`));
      const direct = await rawRequest(body.url);
      expect(direct.headers['content-type']).to.equal(mime);
      const thumb = await sharp(await fetchBytes(body.thumbnailUrl)).metadata();
      expect(thumb.format).to.equal('webp');
    });
  }

  it('strips GPS, camera EXIF, XMP and comments from every served variant (checked with exifr and byte search)', async () => {
    const original = await fixtures.jpegWithGps();
    const before = await exifr.parse(original, { gps: true, xmp: true });
    expect(before.latitude, 'the fixture really has GPS').to.be.closeTo(51.5, 0.1);
    expect(original.toString('latin1')).to.include(MARKERS.jpegComment);
    const body = (await upload(app.url, { bytes: original, filename: 'holiday.jpg' })).json();
    const direct = await fetchBytes(body.url);
    expect(await exifr.parse(direct, { gps: true, xmp: true, iptc: true, tiff: true, ifd0: {}, exif: true })).to.equal(undefined);
    // exifr cannot read WebP, so the thumbnail's RIFF chunks are listed directly.
    const thumb = await fetchBytes(body.thumbnailUrl);
    expect(webpChunks(thumb)).to.satisfy((ids: string[]) => ids.every((id) => ['VP8 ', 'VP8L', 'VP8X', 'ALPH'].includes(id)));
    for (const [url, served] of [[body.url, direct], [body.thumbnailUrl, thumb]] as const) {
      const meta = await sharp(served).metadata();
      expect(meta.exif, url).to.equal(undefined);
      expect(meta.xmp, url).to.equal(undefined);
      expect(meta.iptc, url).to.equal(undefined);
      expect(meta.icc, url).to.equal(undefined);
      expectNoMarkers(served);
    }
  });

  it('strips PNG text chunks and WebP EXIF', async () => {
    for (const bytes of [await fixtures.png(), await fixtures.webp()]) {
      expectNoMarkers(await fetchBytes((await upload(app.url, { bytes })).json().url));
    }
  });

  it('drops bytes appended after the image data (polyglot files)', async () => {
    const poly = await fixtures.polyglotJpeg();
    expect(poly.toString('latin1')).to.include(MARKERS.trailing);
    const res = await upload(app.url, { bytes: poly, filename: 'x.html' });
    expect(res.status).to.equal(201);
    const served = await fetchBytes(res.json().url);
    expectNoMarkers(served);
    expect(served.subarray(-2).equals(Buffer.from([0xff, 0xd9])), 'ends at the JPEG end-of-image marker').to.equal(true);
  });

  it('applies EXIF orientation so photos stay upright, then drops the tag', async () => {
    const body = (await upload(app.url, { bytes: await fixtures.jpegRotated() })).json();
    expect(body).to.include({ width: 200, height: 300 });
    const served = await fetchBytes(body.url);
    const meta = await sharp(served).metadata();
    expect(meta.orientation ?? 1).to.equal(1);
    expect([meta.width, meta.height]).to.deep.equal([200, 300]);
    // The red left half of the stored landscape ends up on top after a 90° clockwise turn.
    const { data } = await sharp(served).extract({ left: 100, top: 40, width: 1, height: 1 }).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).to.be.greaterThan(200);
    expect(data[2]).to.be.lessThan(60);
  });

  it('keeps animated GIFs animated, with every frame', async () => {
    const body = (await upload(app.url, { bytes: await fixtures.animatedGif(3) })).json();
    expect(body).to.include({ width: 64, height: 48, mime: 'image/gif' });
    const meta = await sharp(await fetchBytes(body.url), { animated: true }).metadata();
    expect(meta.pages).to.equal(3);
    expect(meta.pageHeight).to.equal(48);
  });

  it('converts colour profiles to sRGB and removes the ICC profile', async () => {
    const p3 = await fixtures.jpegDisplayP3();
    expect((await sharp(p3).metadata()).icc, 'fixture has a profile').to.be.instanceOf(Buffer);
    const served = await fetchBytes((await upload(app.url, { bytes: p3 })).json().url);
    const meta = await sharp(served).metadata();
    expect(meta.icc).to.equal(undefined);
    expect(meta.space).to.equal('srgb');
  });

  it('makes a thumbnail about THUMBNAIL_SIZE on its longest side', async () => {
    const small = await startTestApp({ THUMBNAIL_SIZE: '100' });
    try {
      const body = (await upload(small.url, { bytes: await fixtures.jpegWithGps() })).json();
      const meta = await sharp(await fetchBytes(body.thumbnailUrl)).metadata();
      expect([meta.width, meta.height]).to.deep.equal([100, 75]);
    } finally {
      await small.close();
    }
  });

  it('records the uploader IP and user agent in the security log only, never on the image row', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() }, { headers: { 'User-Agent': 'PixbinTest/1.0' } });
    const { id } = res.json();
    const row = await app.db('images').where({ id }).first();
    expect(JSON.stringify(row)).not.to.include('127.0.0.1').and.not.to.include('PixbinTest');
    const log = await app.db('security_log').where({ event: 'image.upload' });
    expect(log).to.have.length(1);
    expect(log[0]).to.include({ ip: '127.0.0.1', user_agent: 'PixbinTest/1.0' });
    expect(JSON.parse(log[0].detail)).to.include({ imageId: id });
  });

  it('does not let X-Forwarded-For choose the logged IP when TRUST_PROXY is off', async () => {
    await upload(app.url, { bytes: await fixtures.png() }, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect((await app.db('security_log').first()).ip).to.equal('127.0.0.1');
  });

  it('stores only a SHA-256 hash of the delete key', async () => {
    const { id, deleteUrl } = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const key = deleteUrl.split('/').pop();
    const row = await app.db('images').where({ id }).first();
    expect(row.delete_key_hash).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.to.include(key);
  });

  for (const [label, raw, expected] of [
    ['path traversal', '../../etc/passwd.png', 'passwd.png'],
    ['Windows path', 'C:\\Users\\me\\secret.png', 'secret.png'],
    ['NUL byte', 'evil\u0000.png', 'evil.png'],
    ['RTL override', 'photo\u202Egnp.exe', 'photognp.exe'],
    ['non-ASCII', 'Straße 日本.png', 'Straße 日本.png'],
    ['leading dots', '...hidden.png', 'hidden.png'],
  ] as const) {
    it(`sanitises the original name for display (${label})`, async () => {
      // RFC 5987 encoding lets a hostile client smuggle bytes (NUL, controls) that a raw header cannot carry.
      const res = await upload(app.url, { bytes: await fixtures.png(), filenameStar: raw });
      expect(res.status, res.body.toString()).to.equal(201);
      const row = await app.db('images').where({ id: res.json().id }).first();
      expect(row.original_name).to.equal(expected);
      expect(await app.storedKeys()).to.satisfy((files: string[]) => files.every((f) => /^(images|thumbs|display)\/[0-9A-Za-z]{2}\/[0-9A-Za-z]{12}\.\w+$/.test(f)));
    });
  }

  it('bounds the length of a stored name', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png(), filename: `${'a'.repeat(400)}.png` });
    const row = await app.db('images').where({ id: res.json().id }).first();
    expect(row.original_name.length).to.be.at.most(200);
  });

  it('gives every upload a fresh, unpredictable id and delete key', async () => {
    const bytes = await fixtures.png();
    const a = (await upload(app.url, { bytes })).json();
    const b = (await upload(app.url, { bytes })).json();
    expect(a.id).not.to.equal(b.id);
    expect(a.deleteUrl.split('/').pop()).not.to.equal(b.deleteUrl.split('/').pop());
  });
});
