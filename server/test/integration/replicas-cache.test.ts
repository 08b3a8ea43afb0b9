import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { FEED_APPLICATION_NAME, stopImageChangeFeed } from '../../db/change-feed.js';
import { createDb, type Db } from '../../db/knex.js';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { staffPost } from '../helpers/moderation.js';
import { cachesTrusted, countingStorage, expectGone, warm, type StorageReads } from '../helpers/serving.js';
import { staffUser } from '../helpers/staff.js';
import { testDatabase, testDialect } from '../helpers/test-db.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/** Polls url until it answers 404; returns how long that took after `since`, or fails past the deadline. */
async function notFoundWithin(url: string, since: number, deadlineMs: number): Promise<number> {
  for (;;) {
    const status = (await rawRequest(url)).status;
    const elapsed = performance.now() - since;
    if (status === 404) return elapsed;
    if (elapsed > deadlineMs) throw new Error(`${url} still answered ${status} after ${Math.round(elapsed)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('serving caches across app instances', function () {
  this.timeout(60_000);
  const apps: TestApp[] = [];
  const reads: StorageReads = { get: 0, exists: 0 };
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  // One process, one database handle (SQLite's only way, and a PostgreSQL replica's too): every app built on the
  // handle hears every write made through it, whichever app, job or CLI made it.
  it('two apps on one database handle: a deletion through one is a 404 from the other on the very next request', async () => {
    const [a, b] = [await startTestApp(), await startTestApp({}, { wrapStorage: countingStorage(reads) })];
    apps.push(a, b);
    await cachesTrusted(b.db);
    const image = (await upload(a.url, { bytes: await fixtures.png() })).json();
    const onB = (url: string) => url.replace(a.url, b.url);
    await warm(b.db, reads, [onB(image.url), onB(image.thumbnailUrl)]);
    expect((await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).json()).to.deep.equal({ deleted: true });
    await expectGone([onB(image.url), onB(image.thumbnailUrl)]);
  });

  // Scale-out runs on PostgreSQL (as in replicas.test.ts): B has its own connections and its own change feed.
  if (testDialect() === 'postgres') {
    describe('two replicas on one PostgreSQL database and one store', () => {
      let other: Db;
      let a: TestApp;
      let b: TestApp;
      const onB = (url: string) => url.replace(a.url, b.url);
      before(() => {
        other = createDb({ databaseUrl: testDatabase().databaseUrl, dataDir: testDatabase().dataDir });
      });
      after(async () => {
        await stopImageChangeFeed(other);
        await other.destroy();
      });
      beforeEach(async () => {
        a = await startTestApp();
        b = await startTestApp({}, { db: other, wrapStorage: countingStorage(reads) });
        apps.push(a, b);
        await cachesTrusted(a.db);
        await cachesTrusted(other);
      });

      it('a deletion, a switch to private and a moderation hide on A stop B serving within 1 s', async () => {
        const alice = await signedInUser(a);
        const moderator = await staffUser(a, 'moderator');
        const deleted = (await upload(a.url, { bytes: await fixtures.png() })).json();
        const hidden = (await upload(a.url, { bytes: await fixtures.png() })).json();
        const madePrivate = (await ownerUpload(alice, await fixtures.png())).json();
        const urls = [deleted.url, hidden.url, madePrivate.url].map(onB);
        await warm(other, reads, urls);

        const changes: Array<[string, () => Promise<{ status: number }>]> = [
          [deleted.url, () => rawRequest(deleted.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })],
          [madePrivate.url, () => ownerPost(alice, `/account/images/${madePrivate.id}/visibility`, { visibility: 'private' }, { json: true })],
          [hidden.url, () => staffPost(moderator, `/admin/images/${hidden.id}/moderate`, { action: 'hide', reason: 'Notice' })],
        ];
        const took: number[] = [];
        for (const [url, change] of changes) {
          expect((await change()).status, url).to.equal(200);
          took.push(await notFoundWithin(onB(url), performance.now(), 1000));
        }
        expect(Math.max(...took), `ms until B stopped: ${took.map(Math.round).join(', ')}`).to.be.below(1000);
      });

      it('a replica whose change feed lost its connection reads the database until it listens again', async () => {
        const image = (await upload(a.url, { bytes: await fixtures.png() })).json();
        await warm(other, reads, [onB(image.url)]);
        // Every listening connection of the database dies at once, as in a failover.
        await a.db.raw('select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and datname = current_database()', [FEED_APPLICATION_NAME]);
        expect((await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).status).to.equal(200);
        expect(await notFoundWithin(onB(image.url), performance.now(), 1000)).to.be.below(1000);
        await cachesTrusted(other);
        const next = (await upload(a.url, { bytes: await fixtures.png() })).json();
        await warm(other, reads, [onB(next.url)]);
      });
    });
  }
});
