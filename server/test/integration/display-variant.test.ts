import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import sharp from 'sharp';
import { createContainer, type Container } from '../../container.js';
import { JOBS } from '../../jobs/index.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { restoreImage } from '../../services/recovery.service.js';
import { migrateStorage } from '../../services/storage-migration.service.js';
import { LocalStorage } from '../../storage/local.storage.js';
import { fixtures, MARKERS } from '../fixtures/images.js';
import { scene } from '../fixtures/scenes.js';
import { expectConsistentUsage, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { listKeys, startTestApp, type TestApp } from '../helpers/test-app.js';

type Uploaded = { id: string; url: string; pageUrl: string; thumbnailUrl: string; deleteUrl: string };
const silent = pino({ level: 'silent' });
const displayKey = (id: string) => `display/${id.slice(0, 2)}/${id}.webp`;
const displayUrlOf = (app: TestApp, id: string) => `${app.url}/d/${id}.webp`;
/** The headers an image variant answers with, which /d/ must share with /t/ (all but the ones that name the bytes). */
const SHARED_HEADERS = ['content-type', 'cache-control', 'content-security-policy', 'x-content-type-options', 'cross-origin-resource-policy', 'accept-ranges', 'referrer-policy'];

describe('the display variant (DISPLAY_MAX_PX)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  beforeEach(async () => {
    app = await startTestApp({ DISPLAY_MAX_PX: '300' });
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
  });
  afterEach(() => app.close());

  it('is made at upload: a WebP at most DISPLAY_MAX_PX on its longest side, oriented, with no metadata, recorded and stored', async () => {
    const image: Uploaded = (await upload(app.url, { bytes: await fixtures.jpegWithGps() })).json();
    const row = await app.db('images').where({ id: image.id }).first();
    expect(row).to.include({ display_width: 300, display_height: 225 });
    const res = await rawRequest(displayUrlOf(app, image.id));
    expect(res.status).to.equal(200);
    expect(Number(row.display_size)).to.equal(res.body.length);
    expect(row.display_sha256).to.match(/^[0-9a-f]{64}$/);
    const meta = await sharp(res.body).metadata();
    expect(meta).to.include({ format: 'webp', width: 300, height: 225 });
    expect(meta.exif, 'EXIF').to.equal(undefined);
    expect(meta.xmp, 'XMP').to.equal(undefined);
    expect(meta.icc, 'ICC').to.equal(undefined);
    const text = res.body.toString('latin1');
    for (const marker of Object.values(MARKERS)) expect(text).not.to.include(marker);
    expect(await app.storedKeys()).to.include(displayKey(image.id));

    // Orientation applied: the 300×200 tagged-6 fixture shows as 200×300, red half on top.
    const rotated: Uploaded = (await upload(app.url, { bytes: await fixtures.jpegRotated() })).json();
    const upright = await sharp((await rawRequest(displayUrlOf(app, rotated.id))).body).raw().toBuffer({ resolveWithObject: true });
    expect(upright.info).to.include({ width: 200, height: 300 });
    expect(upright.data[0]).to.be.greaterThan(200); // top-left pixel is red
  });

  it('is never enlarged: a smaller picture gets one at its own size; an animation’s is its first frame', async () => {
    const small: Uploaded = (await upload(app.url, { bytes: await fixtures.png(120, 90) })).json();
    expect(await sharp((await rawRequest(displayUrlOf(app, small.id))).body).metadata()).to.include({ width: 120, height: 90 });
    const gif: Uploaded = (await upload(app.url, { bytes: await fixtures.animatedGif() })).json();
    const meta = await sharp((await rawRequest(displayUrlOf(app, gif.id))).body, { animated: true }).metadata();
    expect(meta).to.include({ width: 64, height: 48 });
    expect(meta.pages ?? 1, 'frames').to.equal(1);
  });

  it('counts against the owner’s quota like the other variants', async () => {
    const alice = await signedInUser(app);
    expect((await ownerUpload(alice, await fixtures.png())).status).to.equal(201);
    const usage = await expectConsistentUsage(app, alice.id);
    const row = await app.db('images').where({ owner_id: alice.id }).first();
    expect(usage.used).to.equal(Number(row.size) + Number(row.thumb_size) + Number(row.display_size));
  });

  it('is served at /d/<id>.webp with the thumbnail’s headers and access rules: private is 404 to others, deleted is 404', async () => {
    const alice = await signedInUser(app);
    const id = (await ownerUpload(alice, await fixtures.png(640, 480))).json().id as string;
    const thumb = await rawRequest(`${app.url}/t/${id}.webp`);
    const display = await rawRequest(displayUrlOf(app, id));
    expect(display.status).to.equal(200);
    for (const name of SHARED_HEADERS) expect(display.headers[name], name).to.equal(thumb.headers[name]);
    expect(display.headers.etag).to.match(/^"[0-9a-f]{32}"$/);
    expect(display.headers['content-disposition']).to.equal('inline; filename="photo-display.webp"');
    expect((await rawRequest(displayUrlOf(app, id), { headers: { 'If-None-Match': String(display.headers.etag) } })).status).to.equal(304);
    expect((await rawRequest(displayUrlOf(app, id), { method: 'HEAD' })).headers['content-length']).to.equal(String(display.body.length));
    expect((await rawRequest(`${app.url}/d/${id}.png`)).status, 'another extension').to.equal(404);
    expect((await rawRequest(`${app.url}/d/AAAAAAAAAAAA.webp`)).status, 'no such image').to.equal(404);

    await deps.repos.images.updateOwned(alice.id, id, { visibility: 'private' });
    const bob = await signedInUser(app, { username: 'bob', email: 'bob@example.test' });
    expect((await rawRequest(displayUrlOf(app, id))).status, 'a guest').to.equal(404);
    expect((await bob.client.get(`/d/${id}.webp`)).status, 'another account').to.equal(404);
    const own = await alice.client.get(`/d/${id}.webp`);
    expect(own.status, 'the owner').to.equal(200);
    expect(own.headers['cache-control']).to.equal('private, no-cache');

    const guest: Uploaded = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(guest.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    expect((await rawRequest(displayUrlOf(app, guest.id))).status).to.equal(404);
  });

  it('answers 404 for an image that has no display variant yet', async () => {
    const image: Uploaded = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await app.db('images').where({ id: image.id }).update({ display_size: null, display_width: null, display_height: null, display_sha256: null });
    expect((await rawRequest(displayUrlOf(app, image.id))).status).to.equal(404);
    expect((await rawRequest(image.pageUrl)).body.toString()).to.include(`<meta property="og:image" content="${image.url}"`);
  });

  it('is what the share page shows and link previews load when it is smaller than the original, with a srcset of both', async () => {
    const large: Uploaded = (await upload(app.url, { bytes: await scene(3, 800, 600) })).json();
    const html = (await rawRequest(large.pageUrl)).body.toString();
    const display = displayUrlOf(app, large.id);
    expect(html).to.include(`<meta property="og:image" content="${display}"`);
    expect(html).to.include(`<meta name="twitter:image" content="${display}"`);
    expect(html).to.include('<meta property="og:image:type" content="image/webp"');
    expect(html).to.include('<meta property="og:image:width" content="300"').and.include('<meta property="og:image:height" content="225"');
    expect(html).to.include(`<img src="${display}" srcset="${display} 300w, ${large.url} 800w" sizes="`);
    expect(html).to.include('width="800" height="600"'); // the layout keeps the original's size and shape

    // Within DISPLAY_MAX_PX, or animated: the original, as before.
    for (const bytes of [await fixtures.png(200, 150), await fixtures.animatedGif()]) {
      const image: Uploaded = (await upload(app.url, { bytes })).json();
      const page = (await rawRequest(image.pageUrl)).body.toString();
      expect(page).to.include(`<meta property="og:image" content="${image.url}"`).and.include(`<img src="${image.url}" alt=`);
      expect(page).not.to.include('srcset');
    }
  });

  it('moves to the recovery store with the image and comes back with it; an image without one deletes and restores too', async () => {
    const image: Uploaded = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const old: Uploaded = (await upload(app.url, { bytes: await fixtures.webp() })).json();
    await app.db('images').where({ id: old.id }).update({ display_size: null, display_width: null, display_height: null, display_sha256: null });
    await app.storage.delete(displayKey(old.id));
    for (const each of [image, old]) expect((await rawRequest(each.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).status).to.equal(200);
    expect(await app.storedKeys()).to.deep.equal([]);
    const recovered = await app.recoveryKeys();
    expect(recovered).to.have.length(5);
    expect(recovered.filter((k) => k.endsWith(displayKey(image.id)))).to.have.length(1);
    expect(await deps.repos.recovery.find(old.id)).to.include({ bytesMoved: true });

    const actor = { userId: null, ip: '127.0.0.1', userAgent: 'test' };
    for (const each of [image, old]) await restoreImage(deps, each.id, actor, new Date());
    expect(await app.recoveryKeys()).to.deep.equal([]);
    expect((await rawRequest(displayUrlOf(app, image.id))).status).to.equal(200);
    expect((await rawRequest(displayUrlOf(app, old.id))).status).to.equal(404);
    expect((await rawRequest(old.url)).status).to.equal(200);
  });

  it('sweep-orphans removes a display object with no row, after the grace, and leaves live ones alone', async () => {
    const kept: Uploaded = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const orphan = displayKey('AbCdEfGhIjKl');
    await app.storage.put(orphan, Readable.from([Buffer.from('orphan')]));
    const later = new Date(Date.now() + 2 * 60 * 60_000);
    const outcome = await createScheduler(deps, JOBS, { now: async () => later }).run('sweep-orphans');
    expect(outcome.status === 'ran' && outcome.result.detail).to.include({ orphanObjectsRemoved: 1, rowsMissingBytes: 0 });
    const left = await app.storedKeys();
    expect(left).not.to.include(orphan);
    expect(left).to.include(displayKey(kept.id));
  });

  it('storage:migrate copies display objects with the rest', async () => {
    const image: Uploaded = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-display-migrate-'));
    try {
      const target = new LocalStorage(dir);
      const report = await migrateStorage(app.storage, target);
      expect(report.mismatched).to.deep.equal([]);
      expect(report.failed).to.deep.equal([]);
      expect(await listKeys(target, 'display/')).to.deep.equal([displayKey(image.id)]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
