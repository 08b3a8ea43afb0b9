import { expect } from 'chai';
import { Readable } from 'node:stream';
import pino from 'pino';
import { createRepos, type Repos } from '../../db/repos.js';
import { storageCleanup } from '../../jobs/storage-cleanup.job.js';
import { LATE_WRITE_SETTLE_MS, runStorageCleanup, trackWrites } from '../../services/storage-cleanup.service.js';
import { S3Storage } from '../../storage/s3.storage.js';
import { StorageUnavailable, type StorageDriver } from '../../storage/storage.js';
import { fixtures } from '../fixtures/images.js';
import { freePort } from '../helpers/child-process.js';
import { upload } from '../helpers/http.js';
import { s3Settings, startErrorS3 } from '../helpers/s3.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Compensation that cannot fail silently (issue 15, item 5): what an upload cannot delete at once (the store failed,
 * or a write's outcome is unknown) is recorded in storage_cleanup, and the storage-cleanup job deletes it until the
 * store confirms it gone, never touching a key a row references.
 */

const logger = pino({ level: 'silent' });
const KEY = (id: string, ext = 'png') => `images/${id.slice(0, 2)}/${id}.${ext}`;

/** A store nothing listens for: every call fails at once with ECONNREFUSED (StorageUnavailable). */
async function deadStore(): Promise<S3Storage> {
  return new S3Storage(s3Settings(`http://127.0.0.1:${await freePort()}`, 'gone', { timeoutMs: 1000 }));
}

/** The app's store, except that writes of display variants and every delete go to a dead one. */
function failingDisplayAndDeletes(real: StorageDriver, dead: StorageDriver): StorageDriver {
  return {
    name: real.name,
    put: (key, body, options) => (key.startsWith('display/') ? dead.put(key, body, options) : real.put(key, body, options)),
    get: (key, range) => real.get(key, range),
    stat: (key) => real.stat(key),
    exists: (key) => real.exists(key),
    delete: (key) => dead.delete(key),
    move: (from, to) => real.move(from, to),
    list: (prefix) => real.list(prefix),
    check: () => real.check(),
  };
}

describe('storage cleanup: compensation that cannot fail silently', () => {
  let app: TestApp;
  let repos: Repos;
  let dead: S3Storage;
  const pending = async () => (await app.db('storage_cleanup').orderBy('key').select('key', 'reason', 'attempts')) as Array<{ key: string; reason: string; attempts: number }>;
  beforeEach(async () => {
    dead = await deadStore();
    app = await startTestApp({}, { wrapStorage: (real) => failingDisplayAndDeletes(real, dead) });
    repos = createRepos(app.db);
    await app.db('storage_cleanup').delete(); // what other tests' failed uploads recorded
  });
  afterEach(async () => {
    await app.db('storage_cleanup').delete();
    await app.close();
    dead.destroy();
  });

  it('an upload whose store step fails records what it stored and what the store may still store; the job deletes them', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() });
    expect(res.status).to.equal(503);
    expect(res.json().error.code).to.equal('storage_unavailable');
    const stored = await app.storedKeys();
    expect(stored.map((k) => k.split('/')[0])).to.deep.equal(['images', 'thumbs']);
    const id = stored[0]!.split('/')[2]!.split('.')[0]!;
    // The original and thumbnail were stored: to undo. The display variant's write failed unanswered: unknown.
    expect(await pending()).to.deep.equal([
      { key: `display/${id.slice(0, 2)}/${id}.webp`, reason: 'write_unknown', attempts: 0 },
      { key: KEY(id), reason: 'undo', attempts: 0 },
      { key: `thumbs/${id.slice(0, 2)}/${id}.webp`, reason: 'undo', attempts: 0 },
    ]);

    // The job, on the real store: the stored objects go at once; the unknown write is confirmed gone twice.
    const now = new Date();
    const first = await storageCleanup.run({ repos, storage: app.storage, logger } as never, now);
    expect(first.detail).to.include({ deleted: 2, awaitingConfirmation: 1, failed: 0, pending: 1 });
    expect(await app.storedKeys()).to.deep.equal([]);
    expect((await runStorageCleanup({ repos, storage: app.storage, logger }, new Date(now.getTime() + 1000))).deleted, 'not due before the settle time').to.equal(0);
    const second = await runStorageCleanup({ repos, storage: app.storage, logger }, new Date(now.getTime() + LATE_WRITE_SETTLE_MS));
    expect(second).to.include({ deleted: 1, pending: 0 });
    expect(await pending()).to.deep.equal([]);
  });

  it('a compensating delete that fails is recorded, not swallowed; one that works leaves nothing to record', async () => {
    const body = () => Readable.from([Buffer.from('bytes')]);
    const failing = trackWrites(app.storage);
    await failing.put(KEY('aaaaaaaaaaaa'), body());
    await failing.undo({ repos, logger, clock: () => new Date() }, new Error('the database refused the row'));
    expect(await pending()).to.deep.equal([]);
    expect(await app.storedKeys()).to.deep.equal([]);

    const deleteFails = trackWrites(failingDisplayAndDeletes(app.storage, dead));
    await deleteFails.put(KEY('bbbbbbbbbbbb'), body());
    await deleteFails.undo({ repos, logger, clock: () => new Date() }, new Error('the database refused the row'));
    expect(await pending()).to.deep.equal([{ key: KEY('bbbbbbbbbbbb'), reason: 'undo', attempts: 0 }]);
    expect(await app.storedKeys()).to.deep.equal([KEY('bbbbbbbbbbbb')]);
  });

  it('never deletes a key that a row references', async () => {
    const image = (await (async () => {
      const plain = await startTestApp();
      try {
        return (await upload(plain.url, { bytes: await fixtures.png() })).json();
      } finally {
        await plain.close();
      }
    })()) as { id: string };
    const keys = await app.storedKeys();
    expect(keys).to.have.length(3);
    await repos.storageCleanup.record(keys.map((key) => ({ key, imageId: image.id, reason: 'write_unknown' as const })), new Date());
    const run = await runStorageCleanup({ repos, storage: app.storage, logger }, new Date());
    expect(run).to.include({ referenced: 3, deleted: 0, pending: 0 });
    expect(await app.storedKeys()).to.deep.equal(keys);
  });

  it('a store that refuses is retried with backoff; one that is down is asked once per run, and again on the next', async () => {
    const now = new Date();
    const at = (ms: number) => new Date(now.getTime() + ms);
    await repos.storageCleanup.record([KEY('cccccccccccc'), KEY('dddddddddddd')].map((key) => ({ key, imageId: key.split('/')[2]!.slice(0, 12), reason: 'undo' as const })), now);

    const refusing = await startErrorS3('AccessDenied');
    const storage = new S3Storage(s3Settings(refusing.endpoint, 'b', { timeoutMs: 1000 }));
    try {
      expect(await runStorageCleanup({ repos, storage, logger }, now)).to.include({ failed: 2, storeUnavailable: false, pending: 2 });
      expect(await repos.storageCleanup.due(at(59_000), 10), 'a minute first').to.deep.equal([]);
      expect((await runStorageCleanup({ repos, storage, logger }, at(60_000))).failed).to.equal(2);
      expect(await repos.storageCleanup.due(at(60_000 + 119_000), 10), 'then two').to.deep.equal([]);
    } finally {
      storage.destroy();
      await refusing.close();
    }

    const down = await runStorageCleanup({ repos, storage: dead, logger }, at(180_000));
    expect(down, 'one attempt: the store is down').to.include({ failed: 1, storeUnavailable: true, pending: 2 });
    expect(await repos.storageCleanup.due(at(180_000), 10), 'both due again at the next run').to.have.length(2);
    expect(await runStorageCleanup({ repos, storage: app.storage, logger }, at(180_000))).to.include({ deleted: 2, pending: 0 });
  });

  it('the dead store is really unavailable (the premise of the tests above)', async () => {
    const err = await dead.delete(KEY('eeeeeeeeeeee')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StorageUnavailable);
  });
});
