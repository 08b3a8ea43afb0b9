import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../../config/config.js';
import { S3Storage } from '../../storage/s3.storage.js';
import { StorageError, StorageUnavailable } from '../../storage/storage.js';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { expectJsonError, waitForEmptyTemp } from '../helpers/assertions.js';
import { freePort, killAllChildren, spawnTs } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';
import { s3Env, s3Settings, startErrorS3, startFaultyRelay, startS3Server, type S3Server } from '../helpers/s3.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const TIMEOUT_MS = 1000;

describe('S3 storage: boot check, outages and serve modes', function () {
  this.timeout(60_000);
  let s3: S3Server;
  let bucketNo = 0;
  const newBucket = async () => {
    const name = `app-${++bucketNo}`;
    await s3.createBucket(name);
    return name;
  };
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3.close();
  });

  describe('the boot check names the setting to fix', () => {
    const failure = async (settings: ReturnType<typeof s3Settings>) => {
      const storage = new S3Storage(settings);
      try {
        return await storage.check().then(
          () => null,
          (err: unknown) => err as StorageError,
        );
      } finally {
        storage.destroy();
      }
    };

    it('passes on a bucket it can list, write, read and delete', async () => {
      expect(await failure(s3Settings(s3.endpoint, await newBucket()))).to.equal(null);
    });

    it('a missing bucket: S3_BUCKET', async () => {
      const err = await failure(s3Settings(s3.endpoint, 'no-such-bucket'));
      expect(err).to.be.instanceOf(StorageError);
      expect(err!.message).to.match(/^S3_BUCKET: bucket "no-such-bucket"/);
    });

    it('a closed port: S3_ENDPOINT, within the timeout', async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      const err = await failure(s3Settings(closed, 'b', { timeoutMs: TIMEOUT_MS }));
      expect(err!.message).to.match(/^S3_ENDPOINT: /).and.include(closed);
      expect(Date.now() - started).to.be.below(TIMEOUT_MS * 3);
    });

    it('a stalled endpoint: S3_ENDPOINT, within the timeout', async () => {
      const relay = await startFaultyRelay(s3.endpoint);
      relay.setMode('stall');
      try {
        const started = Date.now();
        const err = await failure(s3Settings(relay.endpoint, 'b', { timeoutMs: TIMEOUT_MS }));
        expect(err!.message).to.match(/^S3_ENDPOINT: /);
        expect(Date.now() - started).to.be.below(TIMEOUT_MS * 3);
      } finally {
        await relay.close();
      }
    });

    for (const [code, variable] of [
      ['SignatureDoesNotMatch', 'S3_SECRET_ACCESS_KEY'],
      ['InvalidAccessKeyId', 'S3_ACCESS_KEY_ID'],
      ['AccessDenied', 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY'],
    ] as const) {
      it(`S3's ${code} error document: ${variable}`, async () => {
        const fake = await startErrorS3(code);
        try {
          const err = await failure(s3Settings(fake.endpoint, 'b'));
          expect(err!.message.startsWith(`${variable}`), err!.message).to.equal(true);
          expect(err!.message).not.to.include('S3RVER'); // never the secret
        } finally {
          await fake.close();
        }
      });
    }

    it('the server itself stops at start (exit 78) naming the setting, and never prints the secret; *_FILE secrets work', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-s3-boot-'));
      try {
        const secretFile = path.join(dir, 'secret');
        await fs.writeFile(secretFile, 'file-s3cret\n');
        const env = { ...s3Env(s3.endpoint, 'not-made-yet'), S3_SECRET_ACCESS_KEY: '', S3_SECRET_ACCESS_KEY_FILE: secretFile };
        const child = spawnTs('server/main.ts', { ...env, DATA_DIR: dir, PORT: String(await freePort()) });
        expect((await child.waitForExit(30_000)).code, child.stderr()).to.equal(78);
        expect(child.logs().find((l) => l.level === 60)?.msg).to.match(/^S3_BUCKET: bucket "not-made-yet"/);
        expect(child.stdout() + child.stderr()).not.to.include('file-s3cret');
        expect(loadConfig(env).s3?.secretAccessKey).to.equal('file-s3cret');
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    it('rejects an S3 configuration that cannot work before trying it', () => {
      expect(() => loadConfig({ STORAGE_DRIVER: 's3' })).to.throw(/S3_BUCKET: must be set when STORAGE_DRIVER=s3/);
      expect(() => loadConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'bkt', S3_ACCESS_KEY_ID: 'k' })).to.throw(/S3_SECRET_ACCESS_KEY: set both S3 keys, or neither/);
      expect(() => loadConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'bkt', S3_SERVE_MODE: 'public' })).to.throw(/S3_PUBLIC_URL: must be set/);
      expect(() => loadConfig({ S3_BUCKET: 'Bad_Bucket' })).to.throw(/S3_BUCKET: must be a bucket name/);
      expect(() => loadConfig({ S3_PREFIX: '../up' })).to.throw(/S3_PREFIX/);
      expect(() => loadConfig({ S3_FORCE_PATH_STYLE: 'maybe' })).to.throw(/S3_FORCE_PATH_STYLE: must be true or false/);
      expect(() => loadConfig({ S3_REQUEST_CHECKSUM: 'always' })).to.throw(/S3_REQUEST_CHECKSUM/);
      const config = loadConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'bkt', S3_PREFIX: 'pixbin', S3_FORCE_PATH_STYLE: 'true' });
      expect(config.s3).to.include({ prefix: 'pixbin/', forcePathStyle: true, requestChecksum: 'WHEN_REQUIRED', serveMode: 'proxy', region: 'us-east-1' });
    });
  });

  describe('when the store fails under a running app', () => {
    let relay: Awaited<ReturnType<typeof startFaultyRelay>>;
    let app: TestApp;
    beforeEach(async () => {
      relay = await startFaultyRelay(s3.endpoint);
      app = await startTestApp(s3Env(relay.endpoint, await newBucket(), { S3_TIMEOUT_MS: String(TIMEOUT_MS) }));
    });
    afterEach(async () => {
      await app.close();
      await relay.close();
    });

    it('a stalled store: downloads and uploads get a 503 within the bound, nothing is left behind, no socket stays open', async () => {
      const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
      relay.setMode('stall');

      let started = Date.now();
      const get = await rawRequest(image.url, { headers: { Accept: 'application/json' } });
      expectJsonError(get, 503, 'storage_unavailable');
      expect(get.headers['retry-after']).to.equal('30');
      expect(Date.now() - started, 'download answered within the bound').to.be.below(TIMEOUT_MS * 4);

      started = Date.now();
      const put = await upload(app.url, { bytes: await fixtures.jpegWithGps() });
      expectJsonError(put, 503, 'storage_unavailable');
      expect(Date.now() - started, 'upload answered within the bound').to.be.below(TIMEOUT_MS * 6);
      expect(await app.db('images').count({ n: '*' })).to.deep.equal([{ n: 1 }]);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);

      // The app gave up on every stalled connection instead of leaving it to hang.
      const deadline = Date.now() + 3000;
      while (relay.openStalledSockets() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(relay.openStalledSockets(), 'sockets still open to the stalled store').to.equal(0);

      // /readyz says storage is down; once the store answers again, so does everything else.
      expect((await rawRequest(`${app.url}/readyz`)).json().checks.storage).to.equal('fail');
      relay.setMode('pass');
      expect((await rawRequest(image.url)).status).to.equal(200);
      expect((await rawRequest(`${app.url}/readyz`)).json().checks).to.deep.equal({ database: 'ok', storage: 'ok' });
    });

    it('a store that is down (port closed): 503 straight away, not a 500 and not a hang', async () => {
      const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
      await relay.close();
      const started = Date.now();
      expectJsonError(await rawRequest(image.url, { headers: { Accept: 'application/json' } }), 503, 'storage_unavailable');
      expectJsonError(await upload(app.url, { bytes: await fixtures.png() }), 503, 'storage_unavailable');
      expect(Date.now() - started).to.be.below(TIMEOUT_MS * 6);
      const html = await rawRequest(image.url, { headers: { Accept: 'text/html' } });
      expect(html.status).to.equal(503);
      expect(html.body.toString()).to.include('Image storage is not answering').and.not.match(/ECONNREFUSED|127\.0\.0\.1|S3RVER/);
    });
  });

  describe('serve modes', () => {
    it('presigned: a viewer who may see the image is redirected to a short-lived signed URL that serves the same bytes', async () => {
      const app = await startTestApp(s3Env(s3.endpoint, await newBucket(), { S3_SERVE_MODE: 'presigned', S3_PRESIGN_SECONDS: '120' }));
      try {
        const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
        const direct = await rawRequest(image.url);
        expect(direct.status).to.equal(302);
        expect(direct.headers['cache-control']).to.equal('public, max-age=60');
        const location = new URL(direct.headers.location as string);
        expect(location.origin).to.equal(s3.endpoint);
        expect(location.searchParams.get('X-Amz-Expires')).to.equal('120');
        expect(location.searchParams.get('response-content-type')).to.equal('image/png');
        const fromBucket = await rawRequest(location.href);
        expect(fromBucket.status).to.equal(200);
        const stored = await app.storage.get(`images/${image.id.slice(0, 2)}/${image.id}.png`);
        const chunks: Buffer[] = [];
        for await (const c of stored) chunks.push(c as Buffer);
        expect(fromBucket.body.equals(Buffer.concat(chunks))).to.equal(true);
        expect((await rawRequest(image.thumbnailUrl)).status).to.equal(302);
        // The pages allow images from the bucket's origin, and from nowhere else new.
        const page = await rawRequest(image.pageUrl);
        expect(page.headers['content-security-policy']).to.match(new RegExp(`img-src 'self' blob: data: ${s3.endpoint.replace(/[.]/g, '\\.')}(;|$)`));
        // A deleted image gets no URL at all.
        await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
        expect((await rawRequest(image.url)).status).to.equal(404);
      } finally {
        await app.close();
      }
    });

    it('presigned: a private image redirects only its owner, with a redirect no cache may keep', async () => {
      const app = await startTestApp(s3Env(s3.endpoint, await newBucket(), { S3_SERVE_MODE: 'presigned' }));
      try {
        const owner = await signedInUser(app);
        const image = (await ownerUpload(owner, await fixtures.png())).json();
        expect((await ownerPost(owner, `/account/images/${image.id}/visibility`, { visibility: 'private' }, { json: true })).status).to.equal(200);
        const mine = await owner.client.request(image.url);
        expect(mine.status).to.equal(302);
        expect(mine.headers['cache-control']).to.equal('private, no-store');
        const stranger = await rawRequest(image.url);
        expect(stranger.status).to.equal(404);
        expect(stranger.headers.location).to.equal(undefined);
      } finally {
        await app.close();
      }
    });

    it('public: public and unlisted images redirect to S3_PUBLIC_URL; private ones are streamed by the app and never get a public URL', async () => {
      const cdn = 'https://cdn.example.test/pixbin-media';
      const app = await startTestApp(s3Env(s3.endpoint, await newBucket(), { S3_SERVE_MODE: 'public', S3_PUBLIC_URL: cdn, S3_PREFIX: 'site1' }));
      try {
        const owner = await signedInUser(app);
        const image = (await ownerUpload(owner, await fixtures.png())).json();
        const unlisted = await rawRequest(image.url);
        expect(unlisted.status).to.equal(302);
        expect(unlisted.headers.location).to.equal(`${cdn}/site1/images/${image.id.slice(0, 2)}/${image.id}.png`);
        expect((await rawRequest(image.thumbnailUrl)).headers.location).to.equal(`${cdn}/site1/thumbs/${image.id.slice(0, 2)}/${image.id}.webp`);

        expect((await ownerPost(owner, `/account/images/${image.id}/visibility`, { visibility: 'private' }, { json: true })).status).to.equal(200);
        const mine = await owner.client.request(image.url);
        expect(mine.status).to.equal(200);
        expect(mine.headers.location).to.equal(undefined);
        expect(mine.headers['content-type']).to.equal('image/png');
        expect((await rawRequest(image.url)).status).to.equal(404);
        expect((await owner.client.get(`/i/${image.id}`)).body.toString()).not.to.include('cdn.example.test');
      } finally {
        await app.close();
      }
    });

    it('proxy (the default) streams through the app, with ranges, ETag/304 and HEAD as with local disk', async () => {
      const app = await startTestApp(s3Env(s3.endpoint, await newBucket()));
      try {
        const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
        const full = await rawRequest(image.url);
        expect(full.status).to.equal(200);
        const etag = full.headers.etag as string;
        expect((await rawRequest(image.url, { headers: { 'If-None-Match': etag } })).status).to.equal(304);
        const part = await rawRequest(image.url, { headers: { Range: 'bytes=1-4' } });
        expect(part.status).to.equal(206);
        expect(part.body.equals(full.body.subarray(1, 5))).to.equal(true);
        expect((await rawRequest(image.url, { headers: { Range: `bytes=${full.body.length + 10}-` } })).status).to.equal(416);
        const head = await rawRequest(image.url, { method: 'HEAD' });
        expect(head.status).to.equal(200);
        expect(head.headers['content-length']).to.equal(String(full.body.length));
      } finally {
        await app.close();
      }
    });
  });

  it('an upload the store fails part-way through leaves no object and the bytes counted as unavailable', async () => {
    const bucket = await newBucket();
    const relay = await startFaultyRelay(s3.endpoint);
    const storage = new S3Storage(s3Settings(relay.endpoint, bucket, { timeoutMs: TIMEOUT_MS, partSizeBytes: 5 * 1024 * 1024 }));
    try {
      let sent = 0;
      const body = new Readable({
        read() {
          sent += 1024 * 1024;
          if (sent === 7 * 1024 * 1024) relay.setMode('stall'); // the first part went through; the second never arrives
          this.push(sent <= 12 * 1024 * 1024 ? Buffer.alloc(1024 * 1024, 1) : null);
        },
      });
      const err = await storage.put('images/ab/partial.png', body).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(StorageUnavailable);
      relay.setMode('pass');
      expect(await storage.exists('images/ab/partial.png')).to.equal(false);
    } finally {
      storage.destroy();
      await relay.close();
    }
  });

  it('a process killed in the middle of a multipart upload leaves nothing that can be read or listed', async () => {
    const bucket = await newBucket();
    const child = spawnTs('server/test/fixtures/slow-multipart-put.ts', {}, [s3.endpoint, bucket, 'images/ab/killed.png']);
    try {
      // Two parts of 5 MiB have been handed to S3 and a third is under way.
      await child.waitUntil(() => /produced (1[2-9]|[2-9]\d)\d{6}/.test(child.stdout()), 30_000, 'two parts sent');
      child.process.kill('SIGKILL');
      await child.waitForExit(10_000);
    } finally {
      killAllChildren();
    }
    expect(child.stdout()).not.to.include('finished');
    const storage = new S3Storage(s3Settings(s3.endpoint, bucket));
    try {
      expect(await storage.exists('images/ab/killed.png')).to.equal(false);
      const listed: string[] = [];
      for await (const o of storage.list('')) listed.push(o.key);
      expect(listed).to.deep.equal([]);
    } finally {
      storage.destroy();
    }
  });
});
