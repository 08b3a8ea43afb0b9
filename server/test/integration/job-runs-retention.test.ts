import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createContainer, type Container } from '../../container.js';
import { createRepos } from '../../db/repos.js';
import { expireSessionsAndTokens, JOB_RUN_RETENTION_DAYS } from '../../jobs/expire-sessions-and-tokens.job.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Review of issue 15, finding 11: storage-cleanup records a run every minute (1,440 rows a day), so job_runs is
 * pruned by the hourly expire-sessions-and-tokens job: runs older than JOB_RUN_RETENTION_DAYS go, except the newest
 * slot and the newest start of each job, which the scheduler's catch-up and the staff dashboard read.
 */

const DAY = 86_400_000;
const MINUTE = 60_000;

describe('job_runs is kept JOB_RUN_RETENTION_DAYS, never losing a job’s newest run', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  // A fixed clock, far from today, so nothing depends on when the test runs.
  const clock = new Date('2031-07-14T10:47:00Z');
  const ago = (ms: number) => new Date(clock.getTime() - ms);
  const run = (job: string, slot: Date, startedAt = slot) => ({ id: randomUUID(), job, slot, started_at: startedAt, finished_at: startedAt, items: 0 });
  const slotsOf = async (job: string) => ((await app.db('job_runs').where({ job }).orderBy('slot').pluck('slot')) as Array<Date | number>).map((s) => new Date(s).toISOString());

  beforeEach(async () => {
    app = await startTestApp();
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
    await app.db('job_runs').delete();
  });
  afterEach(async () => {
    await app.db('job_runs').delete();
    await app.close();
  });

  it('deletes old runs in batches, keeps recent ones and each job’s newest slot and newest start, and does nothing more the second time', async () => {
    const retention = JOB_RUN_RETENTION_DAYS * DAY;
    // storage-cleanup: 2,500 minutely runs past the window (more than one batch of 1,000), and two inside it.
    const old = Array.from({ length: 2500 }, (_, i) => run('storage-cleanup', ago(retention + (i + 1) * MINUTE)));
    await app.db.batchInsert('job_runs', old, 250);
    await app.db('job_runs').insert([run('storage-cleanup', ago(retention - MINUTE)), run('storage-cleanup', ago(MINUTE))]);
    // A monthly job whose only runs are all older than the window: its newest stays (catch-up reads lastSlot).
    await app.db('job_runs').insert([run('monthly', ago(retention + 40 * DAY)), run('monthly', ago(retention + 10 * DAY))]);
    // A run caught up late: the newest slot started before another run did. Both stay; the oldest goes.
    await app.db('job_runs').insert([
      run('caught-up', ago(retention + 20 * DAY), ago(retention + 20 * DAY)),
      run('caught-up', ago(retention + 5 * DAY), ago(retention + 9 * DAY)),
      run('caught-up', ago(retention + 8 * DAY), ago(retention + 2 * DAY)),
    ]);
    const repos = createRepos(app.db);
    const lastSlots = async () => Promise.all(['storage-cleanup', 'monthly', 'caught-up'].map(async (job) => (await repos.jobRuns.lastSlot(job))?.toISOString()));
    const slotsBefore = await lastSlots();
    const lastRunsBefore = await repos.jobRuns.lastRuns(['monthly', 'caught-up']);

    const result = await expireSessionsAndTokens.run(deps, clock);
    expect(result.detail).to.include({ jobRuns: 2500 + 1 + 1 });
    expect(await slotsOf('storage-cleanup')).to.deep.equal([ago(retention - MINUTE).toISOString(), ago(MINUTE).toISOString()]);
    expect(await slotsOf('monthly')).to.deep.equal([ago(retention + 10 * DAY).toISOString()]);
    expect(await slotsOf('caught-up')).to.deep.equal([ago(retention + 8 * DAY).toISOString(), ago(retention + 5 * DAY).toISOString()]);
    expect(await lastSlots()).to.deep.equal(slotsBefore);
    expect(await repos.jobRuns.lastRuns(['monthly', 'caught-up'])).to.deep.equal(lastRunsBefore);

    expect((await expireSessionsAndTokens.run(deps, clock)).detail).to.include({ jobRuns: 0 });
    // A day later, the run that was just inside the window goes.
    expect((await expireSessionsAndTokens.run(deps, new Date(clock.getTime() + DAY))).detail).to.include({ jobRuns: 1 });
    expect(await slotsOf('storage-cleanup')).to.deep.equal([ago(MINUTE).toISOString()]);
  });
});
