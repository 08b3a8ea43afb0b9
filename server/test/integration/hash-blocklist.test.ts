import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { contentHashes, hammingDistance } from '../../lib/perceptual-hash.js';
import { reencodedSmaller, scene } from '../fixtures/scenes.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError, waitForEmptyTemp } from '../helpers/assertions.js';
import { upload } from '../helpers/http.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const NEUTRAL = 'This image can’t be uploaded here.';

/**
 * A picture and a re-encoded (JPEG q50), shrunk (60%) copy whose perceptual hash differs from it by at least one
 * bit (so BLOCKLIST_MATCH_DISTANCE=0 tells them apart) and by at most the default 10. Chosen by measuring, so the
 * test does not depend on one seed's exact bits.
 */
async function pictureAndCopy(): Promise<{ picture: Buffer; copy: Buffer; distance: number }> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-blocklist-'));
  try {
    const hash = async (bytes: Buffer) => {
      const file = path.join(workDir, 'image');
      await fs.writeFile(file, bytes);
      return contentHashes(file, { maxPixels: 50_000_000, workDir });
    };
    for (let seed = 40; seed < 80; seed += 1) {
      const picture = await scene(seed);
      for (const [scale, quality] of [[0.6, 50], [0.5, 40], [0.4, 30]] as const) {
        const copy = await reencodedSmaller(picture, scale, quality);
        const distance = hammingDistance((await hash(picture)).phash, (await hash(copy)).phash);
        if (distance >= 1 && distance <= 10) return { picture, copy, distance };
      }
    }
    throw new Error('no seed gave a copy 1–10 bits away');
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

describe('hash blocklist', function () {
  this.timeout(120_000);
  let app: TestApp;
  let moderator: TestUser;
  let fixture: { picture: Buffer; copy: Buffer; distance: number };
  let unrelated: Buffer;

  before(async () => {
    fixture = await pictureAndCopy();
    unrelated = await scene(99);
  });

  const start = async (env: Record<string, string> = {}) => {
    app = await startTestApp(env);
    moderator = await staffUser(app, 'moderator');
    await reauth(moderator);
  };
  afterEach(() => app?.close());

  const uploadFile = (bytes: Buffer) => upload(app.url, { bytes, filename: 'photo.jpg' });
  const remove = (imageId: string, blocklist: boolean) =>
    moderator.client.post(`/admin/images/${imageId}/moderate`, { action: 'remove', reason: 'Unlawful content', ...(blocklist ? { blocklist: 'yes' } : {}) }, { csrfPage: '/admin/reports', json: true });
  const imageRows = async () => Number((await app.db('images').count({ n: '*' }))[0]!.n);

  /** A refused upload leaves no stored bytes, no row and no temp file; only its security-log entry. */
  async function expectRefused(bytes: Buffer) {
    const rowsBefore = await imageRows();
    const keysBefore = await app.storedKeys();
    const refusedBefore = (await app.db('security_log').where({ event: 'upload.refused' })).length;
    const res = await uploadFile(bytes);
    expect(expectJsonError(res, 422, 'upload_refused')).to.equal(NEUTRAL);
    expect(await imageRows(), 'image rows').to.equal(rowsBefore);
    expect(await app.storedKeys(), 'stored files').to.deep.equal(keysBefore);
    expect(await waitForEmptyTemp(app), 'temp files').to.deep.equal([]);
    const refused = await app.db('security_log').where({ event: 'upload.refused' }).orderBy('created_at');
    expect(refused).to.have.length(refusedBefore + 1);
    expect(JSON.parse(refused.at(-1).detail)).to.deep.equal({ cause: 'blocklist' });
  }

  it('refuses the removed image and a re-encoded, resized copy with a neutral message; other images still upload', async () => {
    await start();
    const image = (await uploadFile(fixture.picture)).json();
    const row = await app.db('images').where({ id: image.id }).first();
    expect(row.pixel_sha256).to.match(/^[0-9a-f]{64}$/);
    expect(row.phash).to.match(/^[0-9a-f]{16}$/);
    expect((await remove(image.id, true)).status).to.equal(200);
    const [entry] = await app.db('hash_blocklist');
    expect(entry).to.include({ source_image_id: image.id, reason: 'Unlawful content', created_by: moderator.id, pixel_sha256: row.pixel_sha256, phash: row.phash });

    await expectRefused(fixture.picture);
    await expectRefused(fixture.copy);
    // The security log records the refusal, never the hashes.
    expect(JSON.stringify(await app.db('security_log'))).not.to.include(row.phash).and.not.to.include(row.pixel_sha256);
    // A browser gets the same neutral message on an error page.
    const html = await upload(app.url, { bytes: fixture.picture }, { json: false });
    expect(html.status).to.equal(422);
    expect(html.body.toString()).to.include('This image can’t be uploaded here.');

    expect((await uploadFile(unrelated)).status).to.equal(201);
    const audit = (await moderator.client.get(`/admin/audit?actor=${moderator.username}`, { Accept: 'application/json' })).json().entries;
    expect(audit.find((e: { action: string }) => e.action === 'image.remove')).to.deep.include({ targetId: image.id, detail: { blocklisted: true } });
  });

  it('with BLOCKLIST_MATCH_DISTANCE=0 an identical re-upload is still refused, but the resized copy uploads', async () => {
    await start({ BLOCKLIST_MATCH_DISTANCE: '0' });
    const image = (await uploadFile(fixture.picture)).json();
    expect((await remove(image.id, true)).status).to.equal(200);
    await expectRefused(fixture.picture);
    expect((await uploadFile(fixture.copy)).status, `copy ${fixture.distance} bits away`).to.equal(201);
  });

  it('a removal without the tick blocks nothing', async () => {
    await start();
    const image = (await uploadFile(fixture.picture)).json();
    expect((await remove(image.id, false)).status).to.equal(200);
    expect(await app.db('hash_blocklist')).to.deep.equal([]);
    expect((await uploadFile(fixture.picture)).status).to.equal(201);
    expect(await app.db('security_log').where({ event: 'upload.refused' })).to.deep.equal([]);
    const [audit] = await app.db('audit_log').where({ action: 'image.remove', target_id: image.id });
    expect(JSON.parse(audit.detail)).to.deep.equal({});
  });

  it('a blocked single-colour image blocks only its exact pixels, not every other flat image', async () => {
    await start();
    const flat = (background: string) => sharp({ create: { width: 300, height: 200, channels: 3, background } }).png().toBuffer();
    const image = (await uploadFile(await flat('#ff0000'))).json();
    expect((await remove(image.id, true)).status).to.equal(200);
    await expectRefused(await flat('#ff0000'));
    expect((await uploadFile(await flat('#00ff00'))).status).to.equal(201);
  });

  it('an image uploaded before hashes existed is hashed from its stored original when it is removed', async () => {
    await start();
    const png = await sharp(fixture.picture).png().toBuffer(); // lossless: the stored original has the uploaded pixels
    const image = (await uploadFile(png)).json();
    const hashes = await app.db('images').where({ id: image.id }).first('pixel_sha256', 'phash');
    await app.db('images').where({ id: image.id }).update({ pixel_sha256: null, phash: null });
    expect((await remove(image.id, true)).status).to.equal(200);
    expect(await app.db('hash_blocklist').first('pixel_sha256', 'phash')).to.deep.equal(hashes);
    expect(await app.recoveryKeys(), 'the bytes still moved').to.have.length(3);
    await expectRefused(png);
    await expectRefused(fixture.picture); // the JPEG source is the same picture
  });

  it('staff list the entries and can take one off, which lets the image upload again; others get 404', async () => {
    await start();
    const image = (await uploadFile(fixture.picture)).json();
    expect((await remove(image.id, true)).status).to.equal(200);
    const [entry] = await app.db('hash_blocklist');

    const page = await moderator.client.get('/admin/blocklist');
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include(image.id).and.include('Unlawful content').and.include(moderator.username).and.include('Remove from blocklist');
    expect(html).to.include('aria-current="page">Blocklist');
    expect(html, 'hashes are not shown').not.to.include(entry.phash);
    const json = (await moderator.client.get('/admin/blocklist', { Accept: 'application/json' })).json();
    expect(json.entries).to.have.length(1);
    expect(json.entries[0]).to.include({ id: entry.id, sourceImageId: image.id, reason: 'Unlawful content', createdByName: moderator.username });
    expect(json.entries[0]).not.to.have.any.keys('pixelSha256', 'phash');

    const user = await signedInUser(app);
    expect((await user.client.get('/admin/blocklist')).status).to.equal(404);
    expect((await user.client.post(`/admin/blocklist/${entry.id}/remove`, {}, { csrfPage: '/account/images' })).status).to.equal(404);
    expect((await moderator.client.post(`/admin/blocklist/${entry.id}/remove`, {}, { csrf: false })).status, 'CSRF').to.equal(403);
    expect(await app.db('hash_blocklist')).to.have.length(1);

    const removed = await moderator.client.post(`/admin/blocklist/${entry.id}/remove`, { reason: 'Fair use after all' }, { csrfPage: '/admin/blocklist' });
    expect(removed.status).to.equal(303);
    expect(removed.headers.location).to.equal('/admin/blocklist');
    expect(await app.db('hash_blocklist')).to.deep.equal([]);
    expectJsonError(await moderator.client.post(`/admin/blocklist/${entry.id}/remove`, {}, { csrfPage: '/admin/blocklist', json: true }), 404, 'not_found');
    expect((await moderator.client.get('/admin/blocklist')).body.toString()).to.include('The blocklist is empty.');
    expect((await uploadFile(fixture.picture)).status).to.equal(201);

    const audit = (await moderator.client.get(`/admin/audit?actor=${moderator.username}`, { Accept: 'application/json' })).json().entries;
    expect(audit.find((e: { action: string }) => e.action === 'blocklist.remove')).to.deep.include({ targetId: entry.id, reason: 'Fair use after all', detail: { sourceImageId: image.id } });
  });
});
