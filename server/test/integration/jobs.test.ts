import { createContainer, type Container } from '../../container.js';
import { expect } from 'chai';
import cron from 'node-cron';
import pino from 'pino';
import { Readable } from 'node:stream';
import { createDb } from '../../db/knex.js';
import { createSecurityLogRepo } from '../../db/security-log.repo.js';
import { JOBS } from '../../jobs/index.js';
import type { Job, JobDeps } from '../../jobs/job.js';
import { createScheduler, SchedulerConfigError } from '../../jobs/scheduler.js';
import { recordDeletions } from '../../services/recovery.service.js';
import { fixtures } from '../fixtures/images.js';
import { signedInUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { testDatabase, testDialect } from '../helpers/test-db.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { loadConfig } from '../../config/config.js';

const DAY = 86_400_000;
const silent = pino({ level: 'silent' });

describe('scheduled jobs: retention and housekeeping, on a clock the test sets', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  let clock: Date;
  const scheduler = (jobs: readonly Job[] = JOBS, d: JobDeps = deps) => createScheduler(d, jobs, { now: async () => clock });
  const runs = async (job: string) => (await app.db('job_runs').where({ job }).orderBy('started_at')) as Array<Record<string, unknown>>;

  beforeEach(async () => {
    app = await startTestApp({ IP_LOG_RETENTION_DAYS: '30', RECOVERY_DAYS: '14' });
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
    clock = new Date();
  });
  afterEach(() => app.close());

  describe('rotate-security-log (promise 1: IP addresses are kept at most IP_LOG_RETENTION_DAYS)', () => {
    it('deletes rows older than the window in batches, keeps younger ones, counts the days first, and records the run', async () => {
      const log = createSecurityLogRepo(app.db);
      const old = new Date(clock.getTime() - 31 * DAY);
      for (let i = 0; i < 2300; i++) await log.insert({ event: i % 2 ? 'image.upload' : 'auth.login', ip: '203.0.113.7', userAgent: 'ua' }, old);
      await log.insert({ event: 'auth.login', ip: '203.0.113.8' }, new Date(clock.getTime() - 29 * DAY));
      await log.insert({ event: 'auth.login', ip: '203.0.113.9' }, clock);

      const outcome = await scheduler().run('rotate-security-log');
      expect(outcome.status).to.equal('ran');
      expect((await app.db('security_log').pluck('ip')).sort()).to.deep.equal(['203.0.113.8', '203.0.113.9']);
      const [run] = await runs('rotate-security-log');
      expect(run).to.include({ items: 2300, error: null });
      expect(run!.finished_at).not.to.equal(null);

      // The rotated day survives as numbers only.
      const day = old.toISOString().slice(0, 10);
      const stats = (await app.db('daily_stats').where({ day }).orderBy('metric')) as Array<{ metric: string; count: number | string }>;
      expect(stats.map((s) => [s.metric, Number(s.count)])).to.deep.equal([
        ['_aggregated', 1],
        ['auth.login', 1150],
        ['image.upload', 1150],
      ]);
      expect(JSON.stringify(await app.db('daily_stats'))).not.to.match(/203\.0\.113|ua/);

      // Idempotent: a later run has nothing to do.
      clock = new Date(clock.getTime() + 60_000);
      expect(await scheduler().run('rotate-security-log')).to.deep.include({ status: 'ran', result: { items: 0, detail: { cutoff: new Date(clock.getTime() - 30 * DAY).toISOString() } } });
    });

    it('takes the window from IP_LOG_RETENTION_DAYS', async () => {
      const log = createSecurityLogRepo(app.db);
      await log.insert({ event: 'auth.login', ip: '198.51.100.1' }, new Date(clock.getTime() - 8 * DAY));
      const strict = createContainer({ ...deps, config: loadConfig({ IP_LOG_RETENTION_DAYS: '7', DATA_DIR: testDatabase().dataDir }) });
      await scheduler(JOBS, deps).run('rotate-security-log');
      expect(await app.db('security_log').count({ n: '*' })).to.deep.equal([{ n: 1 }]);
      await scheduler(JOBS, strict).run('rotate-security-log', new Date(clock.getTime() + 1));
      expect(await app.db('security_log').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
    });
  });

  it('aggregate-daily-stats counts each ended day once, and never today', async () => {
    const log = createSecurityLogRepo(app.db);
    await log.insert({ event: 'auth.signup', ip: '192.0.2.1' }, new Date(clock.getTime() - 2 * DAY));
    await log.insert({ event: 'auth.signup', ip: '192.0.2.2' }, new Date(clock.getTime() - 2 * DAY));
    await log.insert({ event: 'auth.signup', ip: '192.0.2.3' }, clock);
    expect(await scheduler().run('aggregate-daily-stats')).to.deep.include({ status: 'ran' });
    const day = new Date(clock.getTime() - 2 * DAY).toISOString().slice(0, 10);
    expect(Number((await app.db('daily_stats').where({ day, metric: 'auth.signup' }).first()).count)).to.equal(2);
    expect(await app.db('daily_stats').where({ day: clock.toISOString().slice(0, 10) })).to.deep.equal([]);
    const second = await scheduler().run('aggregate-daily-stats', new Date(clock.getTime() + 1));
    expect(second).to.deep.include({ status: 'ran', result: { items: 0 } });
  });

  it('reap-recovery-store (promise 4) removes deleted bytes RECOVERY_DAYS after the deletion, not before', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    expect(await app.recoveryKeys()).to.have.length(3);
    clock = new Date(Date.now() + 13 * DAY);
    expect(await scheduler().run('reap-recovery-store')).to.deep.include({ status: 'ran', result: { items: 0, detail: { reaped: 0, moved: 0 } } });
    expect(await app.recoveryKeys()).to.have.length(3);
    clock = new Date(Date.now() + 15 * DAY);
    expect(await scheduler().run('reap-recovery-store')).to.deep.include({ status: 'ran', result: { items: 1, detail: { reaped: 1, moved: 0 } } });
    expect(await app.recoveryKeys()).to.deep.equal([]);
    expect(await app.db('recovery_items')).to.deep.equal([]);
  });

  it('expire-sessions-and-tokens removes expired sessions, spent or expired tokens and ended rate-limit windows only', async () => {
    const alice = await signedInUser(app);
    const live = (await app.db('sessions').where({ user_id: alice.id }).first()) as { id_hash: string };
    await app.db('sessions').insert({ ...live, id_hash: 'e'.repeat(64), public_id: 'EXPIREDSESSION', expires_at: new Date(clock.getTime() - 1000) });
    await app.db('sessions').insert({ ...live, id_hash: 'f'.repeat(64), public_id: 'TOOOLDSESSION1', absolute_expires_at: new Date(clock.getTime() - 1000) });
    const token = { user_id: alice.id, purpose: 'verify_email', email: alice.email, created_at: clock };
    await app.db('email_tokens').insert([
      { ...token, token_hash: '1'.repeat(64), expires_at: new Date(clock.getTime() - 1000) },
      { ...token, token_hash: '2'.repeat(64), expires_at: new Date(clock.getTime() + DAY), used_at: new Date(clock.getTime() - 2 * DAY) },
      { ...token, token_hash: '3'.repeat(64), expires_at: new Date(clock.getTime() + DAY) },
    ]);
    await app.db('rate_limits').insert([
      { key: 'loginPerIp:203.0.113.50', points: 3, expire: clock.getTime() - 1000 },
      { key: 'loginPerIp:203.0.113.51', points: 3, expire: clock.getTime() + 60_000 },
    ]);
    const before = Number((await app.db('email_tokens').count({ n: '*' }))[0]!.n);

    const outcome = await scheduler().run('expire-sessions-and-tokens');
    expect(outcome).to.deep.include({ status: 'ran' });
    expect((await app.db('sessions').pluck('id_hash')).sort()).to.deep.equal([live.id_hash]);
    expect(await app.db('email_tokens').pluck('token_hash')).to.include('3'.repeat(64)).and.not.include('1'.repeat(64)).and.not.include('2'.repeat(64));
    expect(Number((await app.db('email_tokens').count({ n: '*' }))[0]!.n)).to.equal(before - 2);
    expect(await app.db('rate_limits').where('key', 'like', 'loginPerIp:203.0.113.5%').pluck('key')).to.deep.equal(['loginPerIp:203.0.113.51']);
    // The live session still works.
    expect((await alice.client.get('/account/settings')).status).to.equal(200);
  });

  describe('sweep-orphans', () => {
    it('removes bytes without a row after an hour’s grace (not before), and recovery objects without an item', async () => {
      await app.storage.put('images/Ab/AbCdEfGhIjKl.png', Readable.from([Buffer.from('orphan')]));
      await app.storage.put('recovery/NoSuchToken0000000000000/images/Zz/ZzZzZzZzZzZz.png', Readable.from([Buffer.from('orphan')]));
      const kept = (await upload(app.url, { bytes: await fixtures.png() })).json();
      expect(await scheduler().run('sweep-orphans')).to.deep.include({ status: 'ran' });
      expect(await app.storedKeys(), 'young orphans are left alone').to.include('images/Ab/AbCdEfGhIjKl.png');

      clock = new Date(Date.now() + 2 * 60 * 60_000);
      const outcome = await scheduler().run('sweep-orphans');
      expect(outcome.status).to.equal('ran');
      expect(outcome.status === 'ran' && outcome.result.detail).to.include({ orphanObjectsRemoved: 2, rowsMissingBytes: 0 });
      expect(await app.storedKeys()).to.have.length(3);
      expect(await app.recoveryKeys()).to.deep.equal([]);
      expect((await rawRequest(kept.url)).status).to.equal(200);
    });

    it('leaves the live bytes of a deleted image alone while its move to the recovery store is still pending', async () => {
      const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
      const record = await deps.repos.images.findById(image.id);
      await deps.repos.transaction(async (tx) => {
        await tx.images.deleteById(image.id);
        await recordDeletions(tx, [record!], 'delete_key', new Date());
      });
      clock = new Date(Date.now() + 2 * 60 * 60_000);
      const outcome = await scheduler().run('sweep-orphans');
      expect(outcome.status === 'ran' && outcome.result.detail).to.include({ orphanObjectsRemoved: 0 });
      expect(await app.storedKeys()).to.have.length(3);
      expect(await scheduler().run('reap-recovery-store', new Date(clock.getTime() + 1))).to.deep.include({ status: 'ran', result: { items: 1, detail: { reaped: 0, moved: 1 } } });
      expect(await app.recoveryKeys()).to.have.length(3);
    });

    it('reports rows whose bytes are gone and hides them from serving, until the bytes come back', async () => {
      const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
      const key = `images/${image.id.slice(0, 2)}/${image.id}.png`;
      const chunks: Buffer[] = [];
      for await (const c of await app.storage.get(key)) chunks.push(c as Buffer);
      await app.storage.delete(key);
      clock = new Date(Date.now() + 2 * 60 * 60_000);
      const outcome = await scheduler().run('sweep-orphans');
      expect(outcome.status === 'ran' && outcome.result.detail).to.deep.include({ rowsMissingBytes: 1, missingIds: [image.id] });
      expect(JSON.parse(String((await runs('sweep-orphans'))[0]!.detail)).missingIds).to.deep.equal([image.id]);
      for (const url of [image.pageUrl, image.url, image.thumbnailUrl]) expect((await rawRequest(url)).status, url).to.equal(404);

      await app.storage.put(key, Readable.from([Buffer.concat(chunks)]));
      const again = await scheduler().run('sweep-orphans', new Date(clock.getTime() + 1));
      expect(again.status === 'ran' && again.result.detail).to.include({ rowsMissingBytes: 0, rowsBytesBack: 1 });
      expect((await rawRequest(image.url)).status).to.equal(200);
    });
  });

  describe('the scheduler', () => {
    it('runs a job once per slot, never alongside itself, and records failures', async () => {
      let release!: () => void;
      let calls = 0;
      const slow: Job = {
        name: 'slow',
        schedule: '0 * * * *',
        run: async () => {
          calls++;
          await new Promise<void>((r) => (release = r));
          return { items: 1 };
        },
      };
      const failing: Job = { name: 'failing', schedule: '0 * * * *', run: () => Promise.reject(new Error('disk on fire')) };
      const s = scheduler([slow, failing]);
      const slot = new Date('2026-11-25T03:00:00Z');
      const first = s.run('slow', slot);
      while (calls === 0) await new Promise((r) => setImmediate(r));
      expect(await s.run('slow', new Date('2026-11-25T04:00:00Z'))).to.deep.equal({ status: 'skipped', reason: 'running' });
      release();
      expect((await first).status).to.equal('ran');
      expect(await s.run('slow', slot)).to.deep.equal({ status: 'skipped', reason: 'slot_taken' });
      expect(calls).to.equal(1);

      const failed = await s.run('failing', slot);
      expect(failed).to.deep.include({ status: 'failed', error: 'disk on fire' });
      const [run] = await runs('failing');
      expect(run).to.include({ error: 'disk on fire' });
      expect(run!.finished_at).not.to.equal(null);
    });

    it('refuses unknown job names and bad cron expressions in the settings, and leaves disabled jobs out', () => {
      const withEnv = (env: Record<string, string>) => createContainer({ ...deps, config: loadConfig({ DATA_DIR: testDatabase().dataDir, ...env }) });
      expect(() => scheduler(JOBS, withEnv({ JOBS_DISABLED: 'rotate-securitylog' }))).to.throw(SchedulerConfigError, /no job is called "rotate-securitylog"/);
      expect(() => scheduler(JOBS, withEnv({ JOB_SCHEDULES: 'sweep-orphans=every day' }))).to.throw(SchedulerConfigError, /not a valid cron expression/);
      expect(() => loadConfig({ JOB_SCHEDULES: 'sweep-orphans' })).to.throw(/JOB_SCHEDULES/);
      const s = scheduler(JOBS, withEnv({ JOBS_DISABLED: 'sweep-orphans, aggregate-daily-stats', JOB_SCHEDULES: 'rotate-security-log=5 1 * * *' }));
      expect(s.jobs.map((j) => j.name)).not.to.include('sweep-orphans').and.not.include('aggregate-daily-stats');
      expect(s.jobs.map((j) => j.name)).to.include('rotate-security-log');
    });

    it('start() fires jobs on their cron schedule (one run per minute slot however often it ticks) and stop() ends it', async () => {
      let calls = 0;
      const everySecond: Job = { name: 'every-second', schedule: '* * * * * *', run: async () => ((calls += 1), { items: 0 }) };
      const s = createScheduler(deps, [everySecond]);
      s.start();
      const timer = [...cron.getTasks().values()].find((task) => task.name === 'pixbin:every-second');
      expect(timer?.getStatus(), 'start() arms a cron timer').to.be.oneOf(['idle', 'running']);
      try {
        const deadline = Date.now() + 5000;
        while ((await runs('every-second')).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await s.stop();
      }
      const recorded = await runs('every-second');
      expect(recorded.length).to.be.within(1, 2); // a minute boundary may fall inside the wait
      expect(calls).to.equal(recorded.length);
      // Nothing runs after stop(): the timer is destroyed (its pending tick cleared) and node-cron holds it no more.
      expect(timer!.getStatus(), 'nothing runs after stop()').to.equal('destroyed');
      expect([...cron.getTasks().values()].filter((task) => task.name === 'pixbin:every-second')).to.deep.equal([]);
    });

    it('replicas: two schedulers on separate connection pools woken for the same tick do each job’s work exactly once', async () => {
      const { databaseUrl, dataDir } = testDatabase();
      const replicaDb = createDb({ databaseUrl, dataDir });
      try {
        const other = createContainer({ ...deps, db: replicaDb });
        const log = createSecurityLogRepo(app.db);
        for (let i = 0; i < 50; i++) await log.insert({ event: 'auth.login', ip: '203.0.113.1' }, new Date(clock.getTime() - 40 * DAY));
        const slot = new Date(Math.floor(clock.getTime() / 60_000) * 60_000);
        for (const job of JOBS) {
          const outcomes = await Promise.all([scheduler(JOBS, deps).run(job.name, slot), scheduler(JOBS, other).run(job.name, slot)]);
          expect(outcomes.filter((o) => o.status === 'ran'), job.name).to.have.length(1);
          expect(outcomes.filter((o) => o.status === 'skipped').map((o) => (o as { reason: string }).reason), job.name).to.have.length(1);
          expect(await runs(job.name), job.name).to.have.length(1);
        }
        const [rotation] = await runs('rotate-security-log');
        expect(rotation).to.include({ items: 50 });
        if (testDialect() === 'postgres') {
          // While one replica runs a job, another cannot start it even for a different slot.
          let release!: () => void;
          let markStarted!: () => void;
          const started = new Promise<void>((r) => (markStarted = r));
          const held: Job = { name: 'held', schedule: '0 * * * *', run: async () => (markStarted(), await new Promise<void>((r) => (release = r)), { items: 0 }) };
          const first = createScheduler(deps, [held]).run('held', new Date('2026-01-01T00:00:00Z'));
          await started;
          expect(await createScheduler(other, [held]).run('held', new Date('2026-01-01T00:01:00Z'))).to.deep.equal({ status: 'skipped', reason: 'locked' });
          release();
          expect((await first).status).to.equal('ran');
        }
      } finally {
        await replicaDb.destroy();
      }
    });
  });
});
