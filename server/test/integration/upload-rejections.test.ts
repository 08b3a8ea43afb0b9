import { expect } from 'chai';
import { connect } from 'node:net';
import { fixtures } from '../fixtures/images.js';
import { expectJsonError, expectNothingLeft, waitForEmptyTemp } from '../helpers/assertions.js';
import { multipart, postUploadBody, rawRequest, upload } from '../helpers/http.js';
import { listFiles, startTestApp, type TestApp } from '../helpers/test-app.js';

/** Sends the start of a request over a raw socket, then hangs up: a client that aborts mid-upload. */
function abortMidUpload(baseUrl: string, head: string, partialBody: Buffer, waitUntil: () => Promise<boolean>): Promise<void> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(head);
      socket.write(partialBody, async () => {
        try {
          const deadline = Date.now() + 5000;
          while (!(await waitUntil()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          socket.destroy();
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    socket.on('error', () => undefined);
  });
}

describe('upload rejections leave nothing behind', () => {
  let app: TestApp;
  const LIMIT = 200 * 1024;
  beforeEach(async () => {
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(LIMIT) });
  });
  afterEach(() => app.close());

  const cases: Array<[string, () => Buffer | Promise<Buffer>, number, string, RegExp]> = [
    ['a truncated JPEG', fixtures.truncatedJpeg, 422, 'corrupt_image', /damaged|incomplete|could not be read/i],
    ['HTML disguised as PNG', fixtures.htmlAsPng, 415, 'unsupported_type', /web page, not an image.*JPEG, PNG, GIF, WebP and AVIF/],
    ['an SVG with a script', fixtures.svgWithScript, 415, 'svg_not_allowed', /SVG/],
    ['a zero-byte file', () => Buffer.alloc(0), 400, 'empty_file', /empty/i],
    ['a PNG header claiming 10 gigapixels (decompression bomb)', () => fixtures.pngBomb(), 413, 'too_many_pixels', /pixels/i],
  ];
  for (const [label, make, status, code, message] of cases) {
    it(`answers ${status} ${code} for ${label}`, async () => {
      const res = await upload(app.url, { bytes: await make(), filename: 'image.png', contentType: 'image/png' });
      expect(expectJsonError(res, status, code)).to.match(message);
      await expectNothingLeft(app);
    });
  }

  it('renders an HTML error page (no stack, no SQL) for a browser form post', async () => {
    const res = await upload(app.url, { bytes: fixtures.htmlAsPng(), filename: 'x.png' }, { json: false });
    expect(res.status).to.equal(415);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    const html = res.body.toString();
    expect(html).to.include('JPEG, PNG, GIF, WebP and AVIF');
    expect(html).not.to.match(/at .*\.(ts|js):\d+|node_modules|SQLITE/i);
    await expectNothingLeft(app);
  });

  it('rejects a bomb quickly, without decoding it', async () => {
    const started = process.hrtime.bigint();
    const res = await upload(app.url, { bytes: fixtures.pngBomb(200_000, 200_000) });
    expectJsonError(res, 413, 'too_many_pixels');
    // Not a speed goal: a decoded 40-gigapixel image would take minutes and gigabytes, so any finish is proof.
    expect(Number(process.hrtime.bigint() - started) / 1e9).to.be.below(10);
    await expectNothingLeft(app);
  });

  it('counts every frame of an animation against MAX_IMAGE_PIXELS', async () => {
    const small = await startTestApp({ MAX_IMAGE_PIXELS: String(64 * 48 * 2) });
    try {
      expect((await upload(small.url, { bytes: await fixtures.animatedGif(2) })).status).to.equal(201);
      await small.db('images').del();
      await small.db('security_log').del();
      for (const f of await small.storedKeys()) await small.storage.delete(f);
      expectJsonError(await upload(small.url, { bytes: await fixtures.animatedGif(3) }), 413, 'too_many_pixels');
      await expectNothingLeft(small);
    } finally {
      await small.close();
    }
  });

  it('accepts a file of exactly MAX_UPLOAD_BYTES and refuses one byte more with 413', async () => {
    // A real PNG padded with a trailing chunk-free tail up to the limit: sharp ignores bytes after IEND.
    const png = await fixtures.png(64, 64);
    const exact = Buffer.concat([png, Buffer.alloc(LIMIT - png.length)]);
    expect((await upload(app.url, { bytes: exact })).status).to.equal(201);
    await app.db('images').del();
    await app.db('security_log').del();
    for (const f of await app.storedKeys()) await app.storage.delete(f);

    const over = Buffer.concat([exact, Buffer.alloc(1)]);
    expect(expectJsonError(await upload(app.url, { bytes: over }), 413, 'file_too_large')).to.include('200 KB');
    await expectNothingLeft(app);
  });

  it('refuses a body announced far over the limit before reading it', async () => {
    const res = await rawRequest(`${app.url}/upload`, {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': String(LIMIT * 10), Accept: 'application/json' },
      body: Buffer.alloc(0),
    }).catch((err: Error) => err);
    // The server answers without waiting for the body; the connection may close under the unsent body.
    if (!(res instanceof Error)) expectJsonError(res, 413, 'file_too_large');
    await expectNothingLeft(app);
  });

  it('answers 400 for a multipart body with no boundary', async () => {
    const { body } = multipart([{ name: 'file', value: await fixtures.png(), filename: 'a.png' }]);
    const res = await postUploadBody(app.url, body, 'multipart/form-data');
    expectJsonError(res, 400, 'malformed_upload');
    await expectNothingLeft(app);
  });

  it('answers 400 for a body that is not multipart at all', async () => {
    const body = await fixtures.png();
    const res = await postUploadBody(app.url, body, 'image/png');
    expectJsonError(res, 400, 'no_file');
    await expectNothingLeft(app);
  });

  it('answers 400 for a multipart body cut off before its closing boundary', async () => {
    const { body, contentType } = multipart([{ name: 'file', value: await fixtures.png(), filename: 'a.png' }]);
    const cut = body.subarray(0, body.length - 200);
    const res = await postUploadBody(app.url, cut, contentType);
    expectJsonError(res, 400, 'malformed_upload');
    await expectNothingLeft(app);
  });

  it('answers 400 for a raw NUL byte in a part header', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png(), filename: 'evil\u0000.png' });
    expectJsonError(res, 400, 'malformed_upload');
    await expectNothingLeft(app);
  });

  it('answers 400 when no file is attached', async () => {
    const { body, contentType } = multipart([{ name: 'title', value: 'hello' }]);
    const res = await postUploadBody(app.url, body, contentType);
    expect(expectJsonError(res, 400, 'no_file')).to.match(/No image/);
    await expectNothingLeft(app);
  });

  it('answers 400 for two files, or a file under another field name', async () => {
    const png = await fixtures.png();
    for (const parts of [
      [
        { name: 'file', value: png, filename: 'a.png' },
        { name: 'file', value: png, filename: 'b.png' },
      ],
      [{ name: 'picture', value: png, filename: 'a.png' }],
    ]) {
      const { body, contentType } = multipart(parts);
      const res = await postUploadBody(app.url, body, contentType);
      expect(expectJsonError(res, 400, 'one_file_only')).to.match(/exactly one image/);
      await expectNothingLeft(app);
    }
  });

  it('answers 400 for a flood of form fields', async () => {
    const parts = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, value: 'x' }));
    const { body, contentType } = multipart([...parts, { name: 'file', value: await fixtures.png(), filename: 'a.png' }]);
    const res = await postUploadBody(app.url, body, contentType);
    expectJsonError(res, 400, 'malformed_upload');
    await expectNothingLeft(app);
  });

  it('removes the temp file when the client aborts halfway through the upload', async () => {
    const png = await fixtures.png(300, 300);
    const { body, contentType } = multipart([{ name: 'file', value: Buffer.concat([png, Buffer.alloc(150 * 1024)]), filename: 'a.png' }]);
    const head =
      `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${body.length}\r\nAccept: application/json\r\n\r\n`;
    // Hang up only once multer has really started writing the temp file, so the cleanup path is exercised.
    await abortMidUpload(app.url, head, body.subarray(0, Math.floor(body.length * 0.6)), async () => (await listFiles(app.tempDir)).length > 0);
    expect(await waitForEmptyTemp(app), 'temp files after the abort').to.deep.equal([]);
    await expectNothingLeft(app);
    // The server is still healthy afterwards.
    expect((await upload(app.url, { bytes: png })).status).to.equal(201);
  });

  it('never lets the name or Content-Type choose the type: a PNG named .gif with image/gif is stored as PNG', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png(), filename: 'cat.gif', contentType: 'image/gif' });
    expect(res.status).to.equal(201);
    expect(res.json().mime).to.equal('image/png');
    expect(res.json().url).to.match(/\.png$/);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });
});
