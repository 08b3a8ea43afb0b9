import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { localStorageRoot } from '../../storage/create-storage.js';
import { imageKeys } from '../../storage/keys.js';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { rawRequest, upload, type RawResponse } from '../helpers/http.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { cachesTrusted, countingStorage, type StorageReads } from '../helpers/serving.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

type Uploaded = { id: string; url: string; thumbnailUrl: string; deleteUrl: string };

const IMAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'cross-origin',
};

/** Pixbin's own 404 page (never the proxy's). */
function expectPixbinNotFound(res: RawResponse, what: string): void {
  expect(res.status, what).to.equal(404);
  expect(res.body.toString(), what).to.include('id="error-heading"').and.not.include('nginx');
  expect(res.headers, what).not.to.have.any.keys('x-accel-redirect', 'x-sendfile');
}

// PROXY_OFFLOAD exists only with local storage: on the S3 pass these tests still run the app on local disk.
const offloadEnv = (mode: string, extra: Record<string, string> = {}) => ({ PROXY_OFFLOAD: mode, STORAGE_DRIVER: 'local', ...extra });

describe('proxy offload: Pixbin decides, the proxy sends the bytes', function () {
  this.timeout(60_000);
  let app: TestApp;
  let png: Buffer;
  let jpeg: Buffer;
  const reads: StorageReads = { get: 0, exists: 0 };
  before(async () => {
    png = await fixtures.png();
    jpeg = await fixtures.jpegWithGps();
  });
  afterEach(() => app?.close());

  const root = () => path.resolve(localStorageRoot(app.config.dataDir));
  const keysOf = (image: { url: string }) => {
    const [, id, ext] = /\/i\/([A-Za-z0-9]+)\.(\w+)$/.exec(image.url)!;
    return imageKeys({ id: id!, ext: ext! });
  };
  const onDisk = (key: string) => fs.readFile(path.join(root(), key));

  describe('nginx (X-Accel-Redirect) in front, from docker/nginx/pixbin.conf.example', () => {
    let nginx: RunningNginx | undefined;
    beforeEach(async () => {
      reads.get = reads.exists = 0;
      app = await startTestApp(offloadEnv('x-accel-redirect'), { wrapStorage: countingStorage(reads) });
      await cachesTrusted(app.db);
      nginx = await startNginx({ upstream: app.url, storageRoot: localStorageRoot(app.config.dataDir) });
    });
    afterEach(async () => {
      await nginx?.stop();
      nginx = undefined;
    });

    /** The same path and query, asked of nginx. */
    const proxied = (url: string) => {
      const { pathname, search } = new URL(url);
      return `${nginx!.url}${pathname}${search}`;
    };
    const viaNginx = (url: string, options: Parameters<typeof rawRequest>[1] = {}) => rawRequest(proxied(url), options);

    it('sends the stored bytes of public, unlisted and private images and thumbnails with Pixbin\'s headers', async () => {
      const alice = await signedInUser(app);
      const cookie = { Cookie: alice.client.cookieHeader() };
      const guest: Uploaded = (await upload(app.url, { bytes: jpeg, filenameStar: 'sunset "beach".jpg' })).json();
      const ownIds: Record<string, string> = {};
      for (const visibility of ['unlisted', 'private']) {
        const id = (await ownerUpload(alice, png, { filename: `${visibility}.png` })).json().id as string;
        expect((await ownerPost(alice, `/account/images/${id}/visibility`, { visibility }, { json: true })).status).to.equal(200);
        ownIds[visibility] = id;
      }
      const cases = [
        { what: 'public original', url: guest.url, key: keysOf(guest).original, mime: 'image/jpeg', cache: 'public, max-age=31536000, immutable', headers: {} },
        { what: 'public thumbnail', url: guest.thumbnailUrl, key: keysOf(guest).thumbnail, mime: 'image/webp', cache: 'public, max-age=31536000, immutable', headers: {} },
        ...Object.entries(ownIds).flatMap(([visibility, id]) => {
          const keys = imageKeys({ id, ext: 'png' });
          const cache = visibility === 'private' ? 'private, no-cache' : 'public, max-age=31536000, immutable';
          return [
            { what: `${visibility} original`, url: `${app.url}/i/${id}.png`, key: keys.original, mime: 'image/png', cache, headers: cookie },
            { what: `${visibility} thumbnail`, url: `${app.url}/t/${id}.webp`, key: keys.thumbnail, mime: 'image/webp', cache, headers: cookie },
          ];
        }),
      ];
      for (const c of cases) {
        // Twice: the second request finds the row (and would find bytes) in the serving caches.
        for (let round = 0; round < 2; round++) {
          const res = await viaNginx(c.url, { headers: c.headers });
          expect(res.status, c.what).to.equal(200);
          expect(res.body.equals(await onDisk(c.key)), `${c.what}: the stored bytes`).to.equal(true);
          expect(res.headers, c.what).to.include({ ...IMAGE_HEADERS, 'content-type': c.mime, 'cache-control': c.cache, 'content-length': String(res.body.length) });
          expect(res.headers.etag, c.what).to.match(/^"[0-9a-f]{32}"$/);
          expect(res.headers['content-disposition'], c.what).to.match(/^inline; filename=/);
          expect(res.headers, c.what).not.to.have.any.keys('x-accel-redirect', 'x-sendfile');
        }
      }
      const first = await viaNginx(guest.url);
      expect(first.headers['content-disposition']).to.equal('inline; filename="sunset \\"beach\\".jpg"');
      expect(first.headers['accept-ranges']).to.equal('bytes');
      // The page headers a streamed image carries come through too.
      expect(first.headers).to.include({ 'referrer-policy': 'same-origin', 'x-frame-options': 'DENY' });
      expect(first.headers['x-request-id']).to.be.a('string');
      // Pixbin's ETag and Last-Modified (the content's hash and the upload time), not nginx's file-based ones.
      const row = (await app.db('images').where({ id: guest.id }).first()) as { sha256: string };
      expect(first.headers.etag).to.equal(`"${row.sha256.slice(0, 32)}"`);
      const direct = await rawRequest(guest.url);
      expect(first.headers['last-modified']).to.equal(direct.headers['last-modified']);
      // Pixbin looked the files up but never read a byte of them: nginx did.
      expect(reads.get, 'storage reads by Pixbin').to.equal(0);
      expect(reads.exists).to.be.greaterThan(0);
    });

    it('without the proxy, Pixbin answers with its headers, X-Accel-Redirect under the prefix and an empty body', async () => {
      const image: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      const res = await rawRequest(image.url);
      expect(res.status).to.equal(200);
      expect(res.body.length).to.equal(0);
      expect(res.headers['x-accel-redirect']).to.equal(`/_pixbin_files/${keysOf(image).original}`);
      expect(res.headers).to.include({ ...IMAGE_HEADERS, 'content-type': 'image/jpeg' });
    });

    it('answers If-None-Match with 304 (from Pixbin), a Range with 206 and the right slice, and HEAD with no body', async () => {
      const image: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      const stored = await onDisk(keysOf(image).original);
      const { etag } = (await viaNginx(image.url)).headers;

      const notModified = await viaNginx(image.url, { headers: { 'If-None-Match': String(etag) } });
      expect(notModified.status).to.equal(304);
      expect(notModified.body.length).to.equal(0);
      expect(notModified.headers).to.include({ ...IMAGE_HEADERS, etag });
      expect((await viaNginx(image.url, { headers: { 'If-None-Match': '"0000"' } })).status).to.equal(200);

      const range = await viaNginx(image.url, { headers: { Range: 'bytes=10-109' } });
      expect(range.status).to.equal(206);
      expect(range.headers['content-range']).to.equal(`bytes 10-109/${stored.length}`);
      expect(range.body.equals(stored.subarray(10, 110))).to.equal(true);
      expect(range.headers).to.include(IMAGE_HEADERS);
      const suffix = await viaNginx(image.url, { headers: { Range: 'bytes=-50' } });
      expect(suffix.status).to.equal(206);
      expect(suffix.body.equals(stored.subarray(-50))).to.equal(true);
      // If-Range is checked against Pixbin's ETag: the current one gets the slice, a stale one the whole file.
      const current = await viaNginx(image.url, { headers: { Range: 'bytes=0-9', 'If-Range': String(etag) } });
      expect(current.status).to.equal(206);
      expect(current.body.equals(stored.subarray(0, 10))).to.equal(true);
      const stale = await viaNginx(image.url, { headers: { Range: 'bytes=0-9', 'If-Range': '"stale"' } });
      expect(stale.status).to.equal(200);
      expect(stale.body.equals(stored)).to.equal(true);
      const unsatisfiable = await viaNginx(image.url, { headers: { Range: `bytes=${stored.length + 10}-` } });
      expect(unsatisfiable.status).to.equal(416);

      for (const url of [image.url, image.thumbnailUrl]) {
        const get = await viaNginx(url);
        const head = await viaNginx(url, { method: 'HEAD' });
        expect(head.status, url).to.equal(200);
        expect(head.body.length, url).to.equal(0);
        for (const name of ['content-type', 'content-length', 'etag', 'cache-control', 'content-security-policy', 'x-content-type-options']) {
          expect(head.headers[name], `${url} ${name}`).to.equal(get.headers[name]);
        }
      }
    });

    it('answers 404 (Pixbin\'s page) to a private image without its owner\'s cookie, a deleted image at once, and bytes gone from disk', async () => {
      const alice = await signedInUser(app);
      const id = (await ownerUpload(alice, png)).json().id as string;
      expect((await ownerPost(alice, `/account/images/${id}/visibility`, { visibility: 'private' }, { json: true })).status).to.equal(200);
      const mine = [`${app.url}/i/${id}.png`, `${app.url}/t/${id}.webp`];
      for (const url of mine) {
        expect((await viaNginx(url, { headers: { Cookie: alice.client.cookieHeader() } })).status, url).to.equal(200);
        for (const method of ['GET', 'HEAD']) {
          const res = await viaNginx(url, { method });
          expect(res.status, `${method} ${url} as a guest`).to.equal(404);
          if (method === 'GET') expectPixbinNotFound(res, `${url} as a guest`);
        }
      }

      const deleted: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      for (const url of [deleted.url, deleted.thumbnailUrl]) expect((await viaNginx(url)).status, url).to.equal(200);
      expect((await rawRequest(deleted.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).json()).to.deep.equal({ deleted: true });
      for (const url of [deleted.url, deleted.thumbnailUrl]) {
        expectPixbinNotFound(await viaNginx(url), `${url} after its deletion`);
        expect((await viaNginx(url, { method: 'HEAD' })).status, `HEAD ${url} after its deletion`).to.equal(404);
      }

      // A row whose bytes are gone: Pixbin checks the file before handing it to nginx.
      const lost: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      expect((await viaNginx(lost.url)).status).to.equal(200);
      await fs.rm(path.join(root(), keysOf(lost).original));
      expectPixbinNotFound(await viaNginx(lost.url), 'an image whose file is gone');
      expect((await viaNginx(lost.url, { method: 'HEAD' })).status).to.equal(404);
      expect((await viaNginx(lost.thumbnailUrl)).status, 'its thumbnail is still there').to.equal(200);
    });

    it('keeps the internal location internal: asking nginx for it directly is 404', async () => {
      const image: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      const keys = keysOf(image);
      for (const key of [keys.original, keys.thumbnail]) {
        const res = await rawRequest(`${nginx!.url}/_pixbin_files/${key}`);
        expect(res.status, key).to.equal(404);
        expect(res.body.includes(await onDisk(key)), key).to.equal(false);
      }
      expect((await rawRequest(`${nginx!.url}/_pixbin_files/`)).status).to.equal(404);
    });

    it('follows PROXY_OFFLOAD_PREFIX', async () => {
      await nginx!.stop();
      await app.close();
      app = await startTestApp(offloadEnv('x-accel-redirect', { PROXY_OFFLOAD_PREFIX: '/internal/pixbin-files/' }));
      nginx = await startNginx({ upstream: app.url, storageRoot: localStorageRoot(app.config.dataDir), prefix: '/internal/pixbin-files/' });
      const image: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      expect((await rawRequest(image.url)).headers['x-accel-redirect']).to.equal(`/internal/pixbin-files/${keysOf(image).original}`);
      const res = await viaNginx(image.url);
      expect(res.status).to.equal(200);
      expect(res.body.equals(await onDisk(keysOf(image).original))).to.equal(true);
      expect((await rawRequest(`${nginx!.url}/internal/pixbin-files/${keysOf(image).original}`)).status).to.equal(404);
    });
  });

  describe('X-Sendfile, asked of Pixbin directly', () => {
    beforeEach(async () => {
      reads.get = reads.exists = 0;
      app = await startTestApp(offloadEnv('x-sendfile'), { wrapStorage: countingStorage(reads) });
    });

    it('answers with Pixbin\'s headers, the absolute path of the file inside the storage root and an empty body', async () => {
      const image: Uploaded = (await upload(app.url, { bytes: jpeg, filenameStar: 'sunset.jpg' })).json();
      const keys = keysOf(image);
      for (const [url, key, mime] of [[image.url, keys.original, 'image/jpeg'], [image.thumbnailUrl, keys.thumbnail, 'image/webp']] as const) {
        for (const method of ['GET', 'HEAD']) {
          const res = await rawRequest(url, { method });
          expect(res.status, `${method} ${url}`).to.equal(200);
          expect(res.body.length, `${method} ${url}`).to.equal(0);
          const file = String(res.headers['x-sendfile']);
          expect(path.isAbsolute(file)).to.equal(true);
          expect(file.startsWith(root() + path.sep)).to.equal(true);
          expect(file).to.equal(path.join(root(), key));
          expect((await fs.readFile(file)).equals(await onDisk(key))).to.equal(true);
          expect(res.headers).to.include({ ...IMAGE_HEADERS, 'content-type': mime, 'cache-control': 'public, max-age=31536000, immutable' });
          expect(res.headers.etag).to.match(/^"[0-9a-f]{32}"$/);
          expect(res.headers).not.to.have.any.keys('x-accel-redirect', 'accept-ranges', 'content-range');
        }
      }
      expect((await rawRequest(image.url)).headers['content-disposition']).to.equal('inline; filename="sunset.jpg"');
      // A range is the proxy's to answer from the file it is named.
      const ranged = await rawRequest(image.url, { headers: { Range: 'bytes=0-9' } });
      expect(ranged.status).to.equal(200);
      expect(ranged.headers['x-sendfile']).to.equal(path.join(root(), keys.original));
      // A matching ETag is still Pixbin's 304, naming no file.
      const notModified = await rawRequest(image.url, { headers: { 'If-None-Match': String(ranged.headers.etag) } });
      expect(notModified.status).to.equal(304);
      expect(notModified.headers).not.to.have.any.keys('x-sendfile');
      expect(reads.get, 'storage reads by Pixbin').to.equal(0);
    });

    it('answers 404 (Pixbin\'s page, naming no file) for an image whose file is gone', async () => {
      const image: Uploaded = (await upload(app.url, { bytes: jpeg })).json();
      await fs.rm(path.join(root(), keysOf(image).original));
      expectPixbinNotFound(await rawRequest(image.url), 'GET');
      const head = await rawRequest(image.url, { method: 'HEAD' });
      expect(head.status).to.equal(404);
      expect(head.headers).not.to.have.any.keys('x-sendfile');
      expect((await rawRequest(image.thumbnailUrl)).headers['x-sendfile']).to.equal(path.join(root(), keysOf(image).thumbnail));
    });
  });
});
