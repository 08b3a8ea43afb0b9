import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { createRepos } from '../../../db/repos.js';
import { NotFound } from '../../../errors.js';
import { Semaphore } from '../../../lib/semaphore.js';
import { createAlbum, deleteAlbum } from '../../../services/albums.service.js';
import { uploadImage } from '../../../services/upload.service.js';
import { fixtures } from '../../fixtures/images.js';
import { signedInUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { expectNothingLeft, until, waitForEmptyTemp } from '../../helpers/assertions.js';
import { s3Env, startFaultyRelay, startS3Server } from '../../helpers/s3.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { apiUpload, expectProblem } from './api-helpers.js';

describe('API v1: when something on the server fails', function () {
  this.timeout(60_000);
  let app: TestApp;
  afterEach(async () => app?.close());

  it('an album that is gone by the time the image is recorded undoes the whole upload', async () => {
    app = await startTestApp();
    const user = await signedInUser(app);
    const repos = createRepos(app.db);
    const deps = {
      repos,
      defaultQuotaBytes: app.config.defaultQuotaBytes,
      unverifiedQuotaBytes: app.config.unverifiedQuotaBytes,
      blocklistMatchDistance: app.config.blocklistMatchDistance,
      storage: app.storage,
      processing: new Semaphore(1),
      logger: pino({ level: 'silent' }),
      clock: () => new Date(),
      publicUrl: app.config.publicUrl,
      limits: { maxPixels: app.config.maxImagePixels, thumbnailSize: app.config.thumbnailSize, displayMaxPx: app.config.displayMaxPx, workDir: app.tempDir },
    };
    const tempPath = path.join(app.tempDir, 'incoming.upload');
    await fs.writeFile(tempPath, await fixtures.png());
    const album = await createAlbum({ albums: repos.albums, repos, clock: deps.clock, publicUrl: app.config.publicUrl }, user.id, 'Going away');
    // Hold the processing slot, so the upload passes its album check and then waits; delete the album meanwhile.
    let release!: () => void;
    const held = deps.processing.run(() => new Promise<void>((resolve) => (release = resolve)));
    const upload = uploadImage(deps, { tempPath, originalName: 'a.png', ownerId: user.id, ip: '127.0.0.1', userAgent: 'test', albumId: album.id }).catch((e: unknown) => e);
    await until(async () => deps.processing.pending === 1, 'the upload waiting for the processing slot');
    await deleteAlbum({ albums: repos.albums, repos, clock: deps.clock, publicUrl: app.config.publicUrl }, user.id, album.id);
    release();
    await held;
    const err = await upload;
    expect(err).to.be.instanceOf(NotFound);
    await fs.rm(tempPath); // the route's receiver removes its temp file; here the test made it
    await expectNothingLeft(app);
    expect(Number((await app.db('users').where({ id: user.id }).first()).used_bytes), 'quota given back').to.equal(0);
  });

  it('a store that is down answers 503 problem+json with Retry-After, leaving nothing', async () => {
    const s3 = await startS3Server();
    const relay = await startFaultyRelay(s3.endpoint);
    try {
      await s3.createBucket('api-outage');
      app = await startTestApp(s3Env(relay.endpoint, 'api-outage', { S3_TIMEOUT_MS: '1000' }));
      const user = await signedInUser(app);
      const { key, keyId } = await apiKeyFor(app, user, ['images:write']);
      await relay.close();
      const res = await apiUpload(app, key, await fixtures.png());
      const body = expectProblem(res, 503, 'storage_unavailable', app);
      expect(res.headers.get('retry-after')).to.equal('30');
      expect(body.detail).not.to.match(/ECONNREFUSED|127\.0\.0\.1|S3RVER/);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
      expect(await app.db('images')).to.deep.equal([]);
      await until(async () => (await app.db('api_requests').where({ key_id: keyId, status: 503, route: '/api/v1/images' })).length === 1, 'the 503 in the request log');
    } finally {
      await app?.close();
      app = undefined as unknown as TestApp;
      await relay.close().catch(() => undefined);
      await s3.close();
    }
  });

  it('a 500 is generic problem+json with a request id, logged for the operator, never the SQL', async () => {
    app = await startTestApp();
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['albums:read']);
    await app.db.schema.renameTable('album_images', 'album_images_gone');
    try {
      const res = await api(app, 'GET', '/api/v1/albums', { key });
      const body = expectProblem(res, 500, 'internal_error', app);
      expect(body.request_id).to.equal(res.headers.get('x-request-id'));
      expect(res.text).not.to.match(/album_images|no such table|relation/i);
      expect(app.logs.some((l) => l.level === 50 && l.requestId === body.request_id && l.route === '/api/v1/albums')).to.equal(true);
    } finally {
      await app.db.schema.renameTable('album_images_gone', 'album_images');
    }
  });

  it('a request log that cannot be written changes nothing in the answer; the operator gets a warning', async () => {
    app = await startTestApp();
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['account:read']);
    await app.db.schema.renameTable('api_requests', 'api_requests_gone');
    try {
      const res = await api(app, 'GET', '/api/v1/me', { key });
      expect(res.status).to.equal(200);
      expect(res.json.id).to.equal(user.id);
      await until(() => app.logs.some((l) => l.level === 40 && l.msg === 'api request log write failed' && l.route === '/api/v1/me'), 'the warning');
      const warning = app.logs.find((l) => l.msg === 'api request log write failed')!;
      expect(warning.code).to.be.a('string').and.not.equal(''); // the database's error code, never its message
      expect(warning).not.to.have.property('err');
      expect(JSON.stringify(warning)).not.to.include('127.0.0.1');
    } finally {
      await app.db.schema.renameTable('api_requests_gone', 'api_requests');
    }
  });
});
