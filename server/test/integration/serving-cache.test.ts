import { expect } from 'chai';
import pino from 'pino';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { createContainer } from '../../container.js';
import { createRepos } from '../../db/repos.js';
import { JOBS } from '../../jobs/index.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { purgeAccount } from '../../services/account-deletion.service.js';
import { sha256Hex } from '../../lib/hash.js';
import { createMailer } from '../../services/mailer.service.js';
import { restoreImage } from '../../services/recovery.service.js';
import { imageKeys } from '../../storage/keys.js';
import { fixtures } from '../fixtures/images.js';
import { fakeImage, insertFakeImages, ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { staffPost } from '../helpers/moderation.js';
import { ServedImageCache } from '../../http/serving/image-cache.js';
import { cachesTrusted, countingStorage, expectGone, fetchAs, queriesDuring, warm, type StorageReads } from '../helpers/serving.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { openSlowClient, within } from '../helpers/slow-client.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const HOUR = 3_600_000;
const silent = pino({ level: 'silent' });
type Uploaded = { id: string; url: string; thumbnailUrl: string; deleteUrl: string };

describe('serving caches: whatever stops an image being servable stops it at once', function () {
  this.timeout(60_000);
  let app: TestApp;
  let png: Buffer;
  const reads: StorageReads = { get: 0, exists: 0 };
  before(async () => {
    png = await fixtures.png();
  });
  beforeEach(async () => {
    reads.get = reads.exists = 0;
    app = await startTestApp({}, { wrapStorage: countingStorage(reads) });
    await cachesTrusted(app.db);
  });
  afterEach(() => app.close());

  const guestUpload = async (extra: Parameters<typeof upload>[2] = {}): Promise<Uploaded> => (await upload(app.url, { bytes: png }, extra)).json();
  const asUrls = (id: string) => [`${app.url}/i/${id}.png`, `${app.url}/t/${id}.webp`];
  const byOwner = async (user: TestUser): Promise<string> => (await ownerUpload(user, png)).json().id as string;
  /** A second container on the same database handle, as the scheduler's process would have. */
  const jobsAt = (at: Date) => createScheduler(createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent }), JOBS, { now: async () => at });

  it('a deletion with the delete key', async () => {
    const image = await guestUpload();
    await warm(app.db, reads, [image.url, image.thumbnailUrl]);
    expect((await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).json()).to.deep.equal({ deleted: true });
    await expectGone([image.url, image.thumbnailUrl]);
  });

  it('the owner deleting one image, and several at once', async () => {
    const alice = await signedInUser(app);
    const [one, two, three] = [await byOwner(alice), await byOwner(alice), await byOwner(alice)];
    await warm(app.db, reads, [one, two, three].flatMap(asUrls));
    expect((await ownerPost(alice, `/account/images/${one}/delete`, {}, { json: true })).status).to.equal(200);
    await expectGone(asUrls(one));
    expect((await ownerPost(alice, '/account/images/delete', { ids: [two, three] }, { json: true })).json()).to.deep.equal({ deleted: 2 });
    await expectGone([two, three].flatMap(asUrls));
  });

  it('a switch to private: guests get 404 at once, its owner still gets it, and back', async () => {
    const alice = await signedInUser(app);
    const id = await byOwner(alice);
    await warm(app.db, reads, asUrls(id));
    expect((await ownerPost(alice, `/account/images/${id}/visibility`, { visibility: 'private' }, { json: true })).status).to.equal(200);
    await expectGone(asUrls(id));
    await expectGone(asUrls(id), (await signedInUser(app)).client);
    for (const url of asUrls(id)) {
      const mine = await fetchAs(url, alice.client);
      expect(mine.status, url).to.equal(200);
      expect(mine.headers['cache-control']).to.equal('private, no-cache');
    }
    expect((await ownerPost(alice, `/account/images/${id}/visibility`, { visibility: 'public' }, { json: true })).status).to.equal(200);
    for (const url of asUrls(id)) expect((await rawRequest(url)).headers['cache-control'], url).to.equal('public, max-age=31536000, immutable');
  });

  it('moderators hiding or removing an image', async () => {
    const moderator = await staffUser(app, 'moderator');
    const [hidden, removed] = [await guestUpload(), await guestUpload()];
    await warm(app.db, reads, [hidden.url, hidden.thumbnailUrl, removed.url, removed.thumbnailUrl]);
    expect((await staffPost(moderator, `/admin/images/${hidden.id}/moderate`, { action: 'hide', reason: 'Notice from Ann' })).status).to.equal(200);
    await expectGone([hidden.url, hidden.thumbnailUrl]);
    await reauth(moderator);
    expect((await staffPost(moderator, `/admin/images/${removed.id}/moderate`, { action: 'remove', reason: 'Notice from Ann' })).status).to.equal(200);
    await expectGone([removed.url, removed.thumbnailUrl]);
    expect((await staffPost(moderator, `/admin/images/${hidden.id}/moderate`, { action: 'restore' })).status).to.equal(200);
    expect((await rawRequest(hidden.url)).status, 'served again once restored').to.equal(200);
  });

  it('an account deletion request, and a purge through another set of repositories', async () => {
    const [alice, bob] = [await signedInUser(app), await signedInUser(app)];
    const [hers, his] = [await byOwner(alice), await byOwner(bob)];
    await warm(app.db, reads, [hers, his].flatMap(asUrls));
    expect((await alice.client.post('/account/settings/delete', { current_password: alice.password }, { csrfPage: '/account/settings', json: true })).status).to.equal(200);
    await expectGone(asUrls(hers));
    const mailer = createMailer({ smtpUrl: undefined, from: 'x <x@example.test>', logger: silent });
    const deps = { repos: createRepos(app.db), storage: app.storage, mailer, logger: silent, publicUrl: app.url, purgeDays: 30, clock: () => new Date() };
    expect(await purgeAccount(deps, bob.id, new Date())).to.equal(true);
    await expectGone(asUrls(his));
  });

  it('the guest expiry job', async () => {
    const image = await guestUpload({ extraParts: [{ name: 'expires', value: '1h' }] });
    await warm(app.db, reads, [image.url, image.thumbnailUrl]);
    expect(await jobsAt(new Date(Date.now() + HOUR + 60_000)).run('expire-guest-uploads')).to.deep.include({ status: 'ran', result: { items: 1 } });
    await expectGone([image.url, image.thumbnailUrl]);
  });

  it('the orphan sweep marking bytes missing, even while memory still holds them; served again once they are back', async () => {
    const image = await guestUpload();
    await warm(app.db, reads, [image.url, image.thumbnailUrl]);
    const keys = Object.values(imageKeys({ id: image.id, ext: 'png' }));
    const kept = await Promise.all(keys.map(async (key) => Buffer.concat(await (await app.storage.get(key)).toArray())));
    for (const key of keys) await app.storage.delete(key);
    const later = new Date(Date.now() + 2 * HOUR);
    expect(await jobsAt(later).run('sweep-orphans')).to.deep.nested.include({ 'result.detail.rowsMissingBytes': 1 });
    await expectGone([image.url, image.thumbnailUrl]);
    for (const [i, key] of keys.entries()) await app.storage.put(key, Readable.from([kept[i]!]));
    expect(await jobsAt(new Date(later.getTime() + 1)).run('sweep-orphans')).to.deep.nested.include({ 'result.detail.rowsBytesBack': 1 });
    expect((await rawRequest(image.url)).body.equals(kept[0]!)).to.equal(true);
  });

  it('a restore from the recovery store is served at once: a miss is never kept', async () => {
    const image = await guestUpload();
    await warm(app.db, reads, [image.url]);
    await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    await expectGone([image.url]);
    await restoreImage({ repos: createRepos(app.db), storage: app.storage }, image.id, { userId: null, ip: undefined, userAgent: undefined }, new Date());
    expect((await rawRequest(image.url)).status).to.equal(200);
  });

  it('answers If-None-Match with 304 before touching storage', async () => {
    const image = await guestUpload();
    const { etag } = (await rawRequest(image.url)).headers;
    const before = { ...reads };
    const conditional = { headers: { 'If-None-Match': String(etag) } };
    expect((await rawRequest(image.url, conditional)).status).to.equal(304);
    expect((await rawRequest(image.url, { ...conditional, method: 'HEAD' })).status).to.equal(304);
    expect(reads).to.deep.equal(before);
    await app.storage.delete(imageKeys({ id: image.id, ext: 'png' }).original);
    expect((await rawRequest(image.url, conditional)).status, 'the copy the client has is still right').to.equal(304);
    expect((await rawRequest(image.url)).status).to.equal(404);
  });

  it('serves ranges, 416 and HEAD from memory with the same headers as a full GET', async () => {
    const image = await guestUpload();
    await warm(app.db, reads, [image.url]);
    const full = await rawRequest(image.url);
    const before = { ...reads };
    const range = await rawRequest(image.url, { headers: { Range: 'bytes=10-109' } });
    expect(range.status).to.equal(206);
    expect(range.headers['content-range']).to.equal(`bytes 10-109/${full.body.length}`);
    expect(range.body.equals(full.body.subarray(10, 110))).to.equal(true);
    expect((await rawRequest(image.url, { headers: { Range: 'bytes=-50' } })).body.equals(full.body.subarray(-50))).to.equal(true);
    expect((await rawRequest(image.url, { headers: { Range: `bytes=${full.body.length}-` } })).status).to.equal(416);
    const head = await rawRequest(image.url, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    for (const name of ['content-type', 'content-length', 'etag', 'cache-control', 'content-security-policy', 'content-disposition']) expect(head.headers[name], name).to.equal(full.headers[name]);
    expect(reads, 'no storage read').to.deep.equal(before);
  });

  it('an answer from memory (before Express) carries exactly the headers and bytes of the first, streamed answer', async () => {
    const alice = await signedInUser(app);
    const image = await guestUpload();
    const privateId = await byOwner(alice);
    expect((await ownerPost(alice, `/account/images/${privateId}/visibility`, { visibility: 'private' }, { json: true })).status).to.equal(200);
    const comparable = (res: Awaited<ReturnType<typeof fetchAs>>) => {
      const { date: _date, 'x-request-id': requestId, ...headers } = res.headers;
      expect(requestId).to.match(/^[0-9a-f-]{36}$/);
      return { status: res.status, headers, body: res.body.toString('base64') };
    };
    for (const [url, client] of [[image.url, undefined], [image.thumbnailUrl, undefined], [`${app.url}/i/${privateId}.png`, alice.client]] as const) {
      const getsBefore = reads.get;
      const streamed = comparable(await fetchAs(url, client));
      await fetchAs(url, client); // the second request holds the bytes
      const fromMemory = await queriesDuring(app.db, async () => {
        const held = comparable(await fetchAs(url, client));
        expect(held, url).to.deep.equal(streamed);
      });
      expect(reads.get - getsBefore, `${url}: storage reads`).to.equal(2);
      if (!client) expect(fromMemory, `${url}: queries once held`).to.equal(0);
      for (const method of ['HEAD', 'GET']) {
        const etag = streamed.headers.etag as string;
        const notModified = await fetchAs(url, client, { method, headers: { 'If-None-Match': etag } });
        expect(notModified.status, `${method} ${url} If-None-Match`).to.equal(304);
        expect(notModified.body.length).to.equal(0);
        expect(notModified.headers['content-security-policy']).to.equal(streamed.headers['content-security-policy']);
      }
      const head = await fetchAs(url, client, { method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(head.headers['content-length']).to.equal(streamed.headers['content-length']);
      expect(head.body.length).to.equal(0);
    }
    // A stranger's cookie-less request for the private image is still the 404 page, from the full stack.
    const stranger = await rawRequest(`${app.url}/i/${privateId}.png`);
    expect(stranger.status).to.equal(404);
    expect(stranger.headers['content-type']).to.match(/^text\/html/);
  });

  it('a gallery page holds the rows it shows, so its thumbnails cost no query; rows read before any change are not held', async () => {
    const alice = await signedInUser(app);
    const thumb = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#36a' } }).webp().toBuffer();
    const images = Array.from({ length: 12 }, () => fakeImage({ ownerId: alice.id, visibility: 'public', thumbSize: thumb.length, thumbSha256: sha256Hex(thumb) }));
    await insertFakeImages(app, images);
    for (const image of images) await app.storage.put(imageKeys(image).thumbnail, Readable.from([thumb]));
    expect((await alice.client.get(`/u/${alice.username}`)).status).to.equal(200);
    const thumbs = await queriesDuring(app.db, () => Promise.all(images.map(async (image) => expect((await fetchAs(`${app.url}/t/${image.id}.webp`)).status).to.equal(200))));
    expect(thumbs, 'queries for the thumbnails of a page just shown').to.equal(0);

    // The page read its rows, then an image changed before they were held: none of them is taken.
    const cache = new ServedImageCache(createRepos(app.db));
    const since = cache.epoch;
    expect(since).to.equal(0);
    const rows = await createRepos(app.db).images.listByOwner(alice.id, { sort: 'newest', limit: 20, after: null });
    await createRepos(app.db).images.deleteById(images[0]!.id);
    cache.prime(rows, since);
    expect(cache.size, 'rows held after a change during the read').to.equal(0);
    const fresh = await createRepos(app.db).images.listByOwner(alice.id, { sort: 'newest', limit: 20, after: null });
    cache.prime(fresh, cache.epoch);
    expect(cache.peek(images[0]!.id)).to.equal(undefined);
    expect(cache.size).to.equal(images.length - 1);
  });

  it('a GET that carries a body goes through the stall guard: a stalled body does not hold the connection open', async () => {
    await app.close();
    app = await startTestApp({ UPLOAD_IDLE_TIMEOUT_MS: '300' }, { wrapStorage: countingStorage(reads) });
    await cachesTrusted(app.db);
    const image = await guestUpload();
    await warm(app.db, reads, [image.url]);
    const path = new URL(image.url).pathname;
    const client = await openSlowClient(app.url, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000\r\n\r\n`);
    try {
      await client.write('0123456789'); // and then nothing
      // The image itself may be sent (nothing needs the body), but the unread body must not keep the socket for
      // requestTimeout (10 minutes): the guard cuts it once nothing arrives for UPLOAD_IDLE_TIMEOUT_MS.
      expect((await within(client.answered, 20_000, 'an answer to the GET'))?.status).to.be.oneOf([200, 408]);
      await within(client.closed, 20_000, 'the connection closed');
      // Closed by the guard, not by some other timeout.
      expect(app.logs.filter((l) => /^request body (stalled|too slow)/.test(String(l.msg))).map((l) => l.method)).to.deep.equal(['GET']);
    } finally {
      client.destroy();
    }
  });

  it('a page of 60 thumbnails in My images costs no query for public and unlisted ones once warm, and one session lookup for all the private ones', async () => {
    // The session lookup is cached for a second of the app's clock: a clock that stands still keeps this test about
    // counting, however slow the machine.
    await app.close();
    const now = new Date();
    app = await startTestApp({}, { wrapStorage: countingStorage(reads), clock: () => now });
    await cachesTrusted(app.db);
    const alice = await signedInUser(app);
    const thumb = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3a6' } }).webp().toBuffer();
    const visibilities = ['public', 'unlisted', 'private'] as const;
    const images = Array.from({ length: 60 }, (_, i) => fakeImage({ ownerId: alice.id, visibility: visibilities[i % 3], thumbSize: thumb.length, thumbSha256: sha256Hex(thumb) }));
    await insertFakeImages(app, images);
    for (const image of images) await app.storage.put(imageKeys(image).thumbnail, Readable.from([thumb]));
    const page = () => Promise.all(images.map(async (image) => expect((await fetchAs(`${app.url}/t/${image.id}.webp`, alice.client)).status).to.equal(200)));
    const cold = await queriesDuring(app.db, page);
    await page(); // the second request of each thumbnail puts its bytes in memory
    const warmPage = await queriesDuring(app.db, page);
    // Cold: one row read per image plus one session lookup for the page; warm: nothing at all while the lookup is fresh.
    expect(cold).to.be.at.most(images.length + 1);
    expect(warmPage).to.equal(0);
    const publicOnly = await queriesDuring(app.db, () => Promise.all(images.filter((i) => i.visibility !== 'private').map((i) => fetchAs(`${app.url}/t/${i.id}.webp`, alice.client))));
    expect(publicOnly).to.equal(0);
  });
});
