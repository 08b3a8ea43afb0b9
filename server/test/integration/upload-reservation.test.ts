import { expect } from 'chai';
import pino from 'pino';
import { createRepos, type Repos } from '../../db/repos.js';
import { storageCleanup } from '../../jobs/storage-cleanup.job.js';
import { runStorageCleanup, trackWrites, UPLOAD_RESERVATION_MS } from '../../services/storage-cleanup.service.js';
import { Readable } from 'node:stream';
import type { StorageDriver } from '../../storage/storage.js';
import { fixtures } from '../fixtures/images.js';
import { upload, type RawResponse } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Review of issue 15, finding 3: a process killed between storing an upload's objects and inserting its row left
 * them for the daily orphan sweep. Now the upload reserves its keys before the first write (due after
 * UPLOAD_RESERVATION_MS) and releases them in its insert transaction, and the minutely storage-cleanup job deletes
 * what a reservation that came due still holds. The "crash" is an upload held, deterministically, after its last
 * write and before its insert: the database and the store look exactly as a dead process leaves them.
 */

const logger = pino({ level: 'silent' });

/** A hold after the display variant (the last write) is stored: `reached` resolves there; `release()` lets it go on. */
function holdAfterLastWrite() {
  let reached!: () => void;
  let release!: () => void;
  const atHold = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wrap = (real: StorageDriver): StorageDriver => ({
    ...real,
    name: real.name,
    get: (key, range) => real.get(key, range),
    stat: (key) => real.stat(key),
    exists: (key) => real.exists(key),
    delete: (key) => real.delete(key),
    move: (from, to) => real.move(from, to),
    list: (prefix) => real.list(prefix),
    check: () => real.check(),
    put: async (key, body, options) => {
      const result = await real.put(key, body, options);
      if (key.startsWith('display/')) {
        reached();
        await gate;
      }
      return result;
    },
  });
  return { wrap, atHold, release };
}

describe('an upload cut off between storing and recording leaves nothing behind (storage-cleanup reservations)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let repos: Repos;
  let hold: ReturnType<typeof holdAfterLastWrite>;
  let pendingUpload: Promise<RawResponse> | null;
  const cleanupRows = async () => (await app.db('storage_cleanup').orderBy('key').select('key', 'reason')) as Array<{ key: string; reason: string }>;
  const imageRows = async () => Number((await app.db('images').count({ n: '*' }))[0]!.n);

  beforeEach(async () => {
    hold = holdAfterLastWrite();
    app = await startTestApp({}, { wrapStorage: (real) => hold.wrap(real) });
    repos = createRepos(app.db);
    await app.db('storage_cleanup').delete();
    pendingUpload = null;
  });
  afterEach(async () => {
    hold.release();
    await pendingUpload;
    await app.db('storage_cleanup').delete();
    await app.close();
  });

  /** Starts an upload and waits until its three objects are stored and its insert has not happened. */
  const uploadUpToTheInsert = async () => {
    pendingUpload = upload(app.url, { bytes: await fixtures.png() });
    await hold.atHold;
    const keys = await app.storedKeys();
    expect(keys.map((k) => k.split('/')[0])).to.deep.equal(['display', 'images', 'thumbs']);
    expect(await imageRows()).to.equal(0);
    const rows = await cleanupRows();
    expect(rows).to.deep.equal(keys.map((key) => ({ key, reason: 'in_flight' })));
    const reservedAt = ((await app.db('storage_cleanup').min({ at: 'created_at' }).first()) as { at: Date | number }).at;
    return { keys, reservedAt: new Date(reservedAt) };
  };

  it('the job deletes what an upload that never inserted its row stored, once its reservation is due, and not before', async () => {
    const { keys, reservedAt } = await uploadUpToTheInsert();

    // The upload may still be alive: neither now nor a moment before the grace ends is anything touched.
    const early = await storageCleanup.run({ repos, storage: app.storage, logger } as never, new Date());
    expect(early.detail).to.include({ deleted: 0, abandoned: 0, pending: 0 });
    expect((await runStorageCleanup({ repos, storage: app.storage, logger }, new Date(reservedAt.getTime() + UPLOAD_RESERVATION_MS - 1000))).deleted).to.equal(0);
    expect(await app.storedKeys()).to.deep.equal(keys);

    // Due once its heartbeat has stopped for the grace (a heartbeat of this live process only pushes it back to some
    // real time plus the grace; a minute more is past any of them): the objects go, and their records with them.
    const due = await runStorageCleanup({ repos, storage: app.storage, logger }, new Date(Date.now() + UPLOAD_RESERVATION_MS + 60_000));
    expect(due).to.include({ abandoned: 3, deleted: 3, failed: 0, pending: 0 });
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await cleanupRows()).to.deep.equal([]);

    // Had the upload only been that slow, it fails now instead of recording a row whose bytes are gone.
    hold.release();
    const res = await pendingUpload!;
    expect(res.status).to.equal(503);
    expect(res.json().error.code).to.equal('storage_unavailable');
    expect(res.headers['retry-after']).to.equal('30');
    expect(await imageRows()).to.equal(0);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await cleanupRows()).to.deep.equal([]);
  });

  it('an upload that inserts its row in time releases its reservation: the job never touches its objects', async () => {
    const { keys, reservedAt } = await uploadUpToTheInsert();
    hold.release();
    const res = await pendingUpload!;
    expect(res.status).to.be.oneOf([200, 201, 303]);
    expect(await imageRows()).to.equal(1);
    expect(await cleanupRows()).to.deep.equal([]);

    const later = await runStorageCleanup({ repos, storage: app.storage, logger }, new Date(reservedAt.getTime() + 2 * UPLOAD_RESERVATION_MS));
    expect(later).to.include({ abandoned: 0, deleted: 0, referenced: 0, pending: 0 });
    expect(await app.storedKeys()).to.deep.equal(keys);
  });

  it('a live upload’s heartbeat keeps its reservation from coming due; undo deletes the object and the reservation', async () => {
    const key = 'images/Hb/HbCdEfGhIjKl.png';
    let now = new Date('2031-03-01T12:00:00Z');
    const clock = () => now;
    const dueAt = async () => {
      const row = (await app.db('storage_cleanup').where({ key }).first()) as { next_attempt_at: Date | number } | undefined;
      return row ? new Date(row.next_attempt_at).getTime() : null;
    };
    /** Waits (at most 20 s) until the reservation is due at `at`: the heartbeat runs every 10 ms here. */
    const until = async (at: number) => {
      for (let i = 0; i < 2000 && (await dueAt()) !== at; i++) await new Promise((r) => setTimeout(r, 10));
      return dueAt();
    };
    const writes = trackWrites(app.storage, { refreshEveryMs: 10 });
    await writes.reserve({ repos, logger, clock }, [key]);
    await writes.put(key, Readable.from([Buffer.from('bytes')]));
    expect(await dueAt()).to.equal(now.getTime() + UPLOAD_RESERVATION_MS);
    // Time passes for the live upload: its reservation keeps moving ahead of it, so the job never finds it due.
    now = new Date(now.getTime() + 10 * UPLOAD_RESERVATION_MS);
    expect(await until(now.getTime() + UPLOAD_RESERVATION_MS)).to.equal(now.getTime() + UPLOAD_RESERVATION_MS);
    expect(await runStorageCleanup({ repos, storage: app.storage, logger }, now)).to.include({ abandoned: 0, deleted: 0 });
    expect(await app.storedKeys()).to.deep.equal([key]);
    // The upload fails: undo deletes the object and releases the reservation; no heartbeat brings it back.
    await writes.undo({ repos, logger, clock }, new Error('the database refused the row'));
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await dueAt()).to.equal(null);
  });

  it('a claim and a release of the same reservation: exactly one of them wins', async () => {
    const key = 'images/Ab/AbCdEfGhIjKl.png';
    const now = new Date();
    await repos.storageCleanup.reserve([{ key, imageId: 'AbCdEfGhIjKl' }], now, new Date(now.getTime() + UPLOAD_RESERVATION_MS));
    expect(await repos.storageCleanup.claim(key, now), 'not due yet').to.equal(false);
    expect(await repos.storageCleanup.claim(key, new Date(now.getTime() + UPLOAD_RESERVATION_MS))).to.equal(true);
    expect(await repos.storageCleanup.release([key])).to.equal(0);
    expect(await cleanupRows()).to.deep.equal([{ key, reason: 'undo' }]);
    await app.db('storage_cleanup').delete();

    await repos.storageCleanup.reserve([{ key, imageId: 'AbCdEfGhIjKl' }], now, new Date(now.getTime() + UPLOAD_RESERVATION_MS));
    expect(await repos.storageCleanup.release([key])).to.equal(1);
    expect(await repos.storageCleanup.claim(key, new Date(now.getTime() + UPLOAD_RESERVATION_MS))).to.equal(false);
    expect(await cleanupRows()).to.deep.equal([]);
  });
});
