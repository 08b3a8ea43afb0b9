import { expect } from 'chai';
import { createImagesRepo, type ImageRecord } from '../../db/images.repo.js';
import { createDb, databaseNow, insertInBatches, SQLITE_INSERT_BATCH, type Db } from '../../db/knex.js';
import { migrateToLatest, migrationConfig } from '../../db/migrate.js';
import { createRepos } from '../../db/repos.js';
import { createSecurityLogRepo } from '../../db/security-log.repo.js';
import { newImageId } from '../../lib/ids.js';
import { APP_TABLES, appTables, createScratchDb, MIGRATION_NAMES } from '../helpers/scratch-db.js';
import { testDatabase, testDialect } from '../helpers/test-db.js';

const MIGRATIONS = MIGRATION_NAMES;

function imageRecord(overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id: newImageId(),
    deleteKeyHash: 'a'.repeat(64),
    originalName: 'holiday.jpg',
    mime: 'image/jpeg',
    ext: 'jpg',
    size: 5_000_000_123, // above 2^32: bigint columns must come back as exact numbers
    width: 4000,
    height: 3000,
    frames: 1,
    sha256: 'b'.repeat(64),
    thumbSize: 12_345,
    thumbWidth: 400,
    thumbHeight: 300,
    thumbSha256: 'c'.repeat(64),
    displaySize: null,
    displayWidth: null,
    displayHeight: null,
    displaySha256: null,
    createdAt: new Date('2026-01-15T12:34:56.789Z'),
    ownerId: null,
    visibility: 'unlisted',
    title: null,
    expiresAt: null,
    missingSince: null,
    moderationState: null,
    moderationReason: null,
    pixelSha256: null,
    phash: null,
    sourceUrl: null,
    ...overrides,
  };
}

/** The instant the database itself holds, read without the driver's Date conversion. */
async function storedEpochMs(db: Db, id: string): Promise<number> {
  if (db.dialect === 'postgres') {
    const result = await db.raw<{ rows: Array<{ ms: number }> }>(
      'select round(extract(epoch from created_at) * 1000)::bigint as ms from images where id = ?',
      [id],
    );
    return result.rows[0]!.ms;
  }
  const rows = await db.raw<Array<{ ms: number; kind: string }>>('select created_at as ms, typeof(created_at) as kind from images where id = ?', [id]);
  expect(rows[0]!.kind, 'SQLite stores epoch milliseconds').to.equal('integer');
  return rows[0]!.ms;
}

const JANUARY_OFFSET = { UTC: 0, 'Europe/Berlin': -60, 'America/New_York': 300 } as const;

/** Runs fn with the process in another time zone (the pg driver serialises Dates in local time). */
async function inTimeZone(tz: keyof typeof JANUARY_OFFSET, fn: () => Promise<void>): Promise<void> {
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    expect(new Date('2026-01-15T12:00:00Z').getTimezoneOffset(), `process TZ is ${tz}`).to.equal(JANUARY_OFFSET[tz]);
    await fn();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

describe(`database (${testDialect()})`, () => {
  const db = (): Db => testDatabase().db;

  // Each dialect gets its own connection-setup test; none is skipped.
  if (testDialect() === 'postgres') {
    it('PostgreSQL returns COUNT and bigint values as numbers, like SQLite', async () => {
      const [row] = await db()('images').count({ n: '*' });
      expect(row!.n).to.equal(0);
      const big = await db().raw<{ rows: Array<{ v: unknown }> }>('select 5000000000::bigint as v');
      expect(big.rows[0]!.v).to.equal(5_000_000_000);
    });
  }

  if (testDialect() === 'sqlite') it('SQLite runs with WAL, synchronous NORMAL, a busy timeout and foreign keys', async () => {
    const pragma = async (name: string): Promise<unknown> => {
      const rows = await db().raw<Array<Record<string, unknown>>>(`pragma ${name}`);
      return Object.values(rows[0]!)[0];
    };
    expect(await pragma('journal_mode')).to.equal('wal');
    expect(await pragma('synchronous')).to.equal(1); // NORMAL
    expect(await pragma('busy_timeout')).to.be.a('number').above(0);
    expect(await pragma('foreign_keys')).to.equal(1);
  });

  describe('timestamps', () => {
    const instants = {
      'with milliseconds': '2026-01-15T12:34:56.789Z',
      'the epoch': '1970-01-01T00:00:00.000Z',
      'just before Europe springs forward': '2026-03-29T00:59:59.999Z',
      'when Europe springs forward': '2026-03-29T01:00:00.001Z',
      'in the hour Europe repeats (first pass)': '2026-10-25T00:30:00.250Z',
      'in the hour Europe repeats (second pass)': '2026-10-25T01:30:00.250Z',
      'when New York springs forward': '2026-03-08T07:00:00.500Z',
    };

    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York'] as const) {
      it(`come back from the images repo as the same instant (process TZ=${tz})`, async () => {
        await inTimeZone(tz, async () => {
          const images = createImagesRepo(db());
          for (const [label, iso] of Object.entries(instants)) {
            const createdAt = new Date(iso);
            const image = imageRecord({ createdAt });
            await images.insert(image);
            const back = await images.findById(image.id);
            expect(back!.createdAt, label).to.be.instanceOf(Date);
            expect(back!.createdAt.getTime(), label).to.equal(createdAt.getTime());
            expect(back!.createdAt.toISOString(), label).to.equal(iso);
            expect(await storedEpochMs(db(), image.id), `${label}: stored instant`).to.equal(createdAt.getTime());
          }
        });
      });
    }

    it('come back from the security log as the same instants, in time order across a DST change', async () => {
      await inTimeZone('Europe/Berlin', async () => {
        const log = createSecurityLogRepo(db());
        // Wall-clock 02:30 happens twice in Berlin that night; the earlier instant must still sort first.
        const second = new Date('2026-10-25T01:30:00.001Z');
        const first = new Date('2026-10-25T00:30:00.999Z');
        await log.insert({ event: 'auth.login', detail: { n: 2 } }, second);
        await log.insert({ event: 'auth.signup', detail: { n: 1 } }, first);
        const entries = await log.list();
        expect(entries.map((e) => e.event)).to.deep.equal(['auth.signup', 'auth.login']);
        expect(entries.map((e) => e.createdAt.getTime())).to.deep.equal([first.getTime(), second.getTime()]);
        expect(entries[0]!.createdAt).to.be.instanceOf(Date);
        expect(entries[1]!.detail).to.deep.equal({ n: 2 });
      });
    });

    it('databaseNow() is a Date close to the process clock, with sub-second precision', async () => {
      const samples: Date[] = [];
      for (let i = 0; i < 5; i++) samples.push(await databaseNow(db()));
      for (const now of samples) {
        expect(now).to.be.instanceOf(Date);
        expect(Math.abs(now.getTime() - Date.now())).to.be.below(5000);
      }
      expect(samples.some((d) => d.getTime() % 1000 !== 0), 'not truncated to whole seconds').to.equal(true);
      for (let i = 1; i < samples.length; i++) expect(samples[i]!.getTime()).to.be.at.least(samples[i - 1]!.getTime());
    });
  });

  describe('insertInBatches', () => {
    const rows = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `batch-${String(i).padStart(5, '0')}`,
        event: 'test.batch',
        created_at: new Date(Date.UTC(2026, 0, 1) + i),
        detail: JSON.stringify({ i }),
      }));

    it(`inserts 1234 rows in statements of at most ${SQLITE_INSERT_BATCH} rows`, async () => {
      const inserts: number[] = [];
      const onQuery = (q: { sql: string; bindings?: unknown[] }) => {
        if (/^insert into [`"]security_log[`"]/i.test(q.sql)) inserts.push((q.bindings ?? []).length / 4); // 4 columns a row
      };
      db().on('query', onQuery);
      try {
        await insertInBatches(db(), 'security_log', rows(1234));
      } finally {
        db().off('query', onQuery);
      }
      expect(inserts).to.deep.equal([500, 500, 234]);
      expect(Number((await db()('security_log').count({ n: '*' }))[0]!.n)).to.equal(1234);
      const last = (await db()('security_log').orderBy('id', 'desc').first()) as { id: string; detail: string };
      expect(last.id).to.equal('batch-01233');
      expect(JSON.parse(last.detail)).to.deep.equal({ i: 1233 });
    });

    it('inserts nothing (and sends nothing) for no rows, and rolls back every batch with its transaction', async () => {
      let statements = 0;
      const onQuery = () => statements++;
      db().on('query', onQuery);
      try {
        await insertInBatches(db(), 'security_log', []);
      } finally {
        db().off('query', onQuery);
      }
      expect(statements).to.equal(0);

      const clash = rows(700); // the second batch repeats a primary key from the first
      clash[650]!.id = clash[3]!.id;
      let failed = false;
      await db()
        .transaction((trx) => insertInBatches(trx, 'security_log', clash))
        .catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(Number((await db()('security_log').count({ n: '*' }))[0]!.n)).to.equal(0);
    });
  });

  describe('images repo', () => {
    it('insert, findById, count and deleteById round-trip a record', async () => {
      const images = createImagesRepo(db());
      const image = imageRecord({ originalName: 'résumé – ünïcødé.png', mime: 'image/png', ext: 'png' });
      const other = imageRecord();
      await images.insert(image);
      await images.insert(other);
      expect(await images.count()).to.equal(2);
      expect(await images.findById(image.id)).to.deep.equal(image);
      expect(await images.findById('nonexistent00')).to.equal(null);

      expect(await images.deleteById(image.id)).to.equal(true);
      expect(await images.deleteById(image.id), 'second delete').to.equal(false);
      expect(await images.findById(image.id)).to.equal(null);
      expect(await images.findById(other.id)).to.deep.equal(other);
      expect(await images.count()).to.equal(1);
    });

    it('refuses a second row with the same id', async () => {
      const images = createImagesRepo(db());
      const image = imageRecord();
      await images.insert(image);
      let error: unknown;
      await images.insert(imageRecord({ id: image.id })).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(Error);
      expect(await images.count()).to.equal(1);
    });

    it('a failing insert inside the upload transaction leaves neither the image nor its security_log row', async () => {
      const images = createImagesRepo(db());
      const existing = imageRecord();
      await images.insert(existing);
      const fresh = imageRecord();
      let error: unknown;
      // The upload service's transaction: image row, then its log row; a clashing row makes the unit fail.
      await createRepos(db())
        .transaction(async (tx) => {
          await tx.images.insert(fresh);
          await tx.securityLog.insert({ event: 'image.upload', imageId: fresh.id, detail: { imageId: fresh.id } }, fresh.createdAt);
          await tx.images.insert(imageRecord({ id: existing.id }));
        })
        .catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(Error);
      expect(await images.findById(fresh.id)).to.equal(null);
      expect(await images.count()).to.equal(1);
      expect(await createSecurityLogRepo(db()).list()).to.deep.equal([]);
    });
  });

  describe('migrations', () => {
    it('create the tables on an empty database, roll back to nothing, and apply again; a second run is a no-op', async function () {
      this.timeout(60_000);
      const scratch = await createScratchDb(testDialect());
      try {
        const { db: fresh } = scratch;
        expect(await appTables(fresh)).to.deep.equal([]);

        expect(await migrateToLatest(fresh)).to.deep.equal(MIGRATIONS);
        expect(await appTables(fresh)).to.deep.equal(APP_TABLES);
        expect(await migrateToLatest(fresh), 'second run').to.deep.equal([]);

        const [, rolledBack] = (await fresh.migrate.rollback(migrationConfig, true)) as [number, string[]];
        expect([...rolledBack].sort()).to.deep.equal(MIGRATIONS);
        expect(await appTables(fresh)).to.deep.equal([]);

        expect(await migrateToLatest(fresh)).to.deep.equal(MIGRATIONS);
        expect(await appTables(fresh)).to.deep.equal(APP_TABLES);
        expect(await migrateToLatest(fresh), 'second run').to.deep.equal([]);

        const images = createImagesRepo(fresh);
        const image = imageRecord();
        await images.insert(image);
        expect(await images.findById(image.id)).to.deep.equal(image);
      } finally {
        await scratch.dispose();
      }
    });

    it('applies each migration once when several processes migrate one empty database at the same moment', async function () {
      this.timeout(60_000);
      const scratch = await createScratchDb(testDialect());
      // Separate pools stand in for separate replicas: each has its own connections and its own view of the database.
      const others = Array.from({ length: 4 }, () => createDb({ databaseUrl: scratch.databaseUrl, dataDir: scratch.dataDir }));
      try {
        const results = await Promise.all([scratch.db, ...others].map((db) => migrateToLatest(db)));
        expect(results.flat().sort()).to.deep.equal([...MIGRATIONS].sort());
        expect(results.filter((applied) => applied.length > 0)).to.have.length(1);
        const names = ((await scratch.db('knex_migrations').select('name')) as Array<{ name: string }>).map((r) => r.name.replace(/\.(ts|js)$/, ''));
        expect(names.sort()).to.deep.equal([...MIGRATIONS].sort());
        expect(await appTables(scratch.db)).to.deep.equal(APP_TABLES);
      } finally {
        await Promise.all(others.map((db) => db.destroy()));
        await scratch.dispose();
      }
    });
  });
});
