import { expect } from 'chai';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createContainer, type Container } from '../../container.js';
import { createDb, toDate } from '../../db/knex.js';
import { JOBS } from '../../jobs/index.js';
import type { Job, JobDeps } from '../../jobs/job.js';
import { createScheduler, type RunOutcome } from '../../jobs/scheduler.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { testDatabase } from '../helpers/test-db.js';

/**
 * Issue 15, item 6: node-cron dropped a tick that fired more than 1 s late, so one pause of the process at 04:57
 * skipped the daily sweep for 24 h, and a process that was down across a daily tick waited for the next one. Now
 * a late tick still runs, and every minute (and at start) a job whose latest slot has no run is run for that slot:
 * the (job, slot) claim keeps it to once per slot across replicas.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;
const silent = pino({ level: 'silent' });

/** A pino logger whose JSON lines the test reads. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Keeps the event loop busy (no timer can fire) until the wall clock reaches `until`. */
function blockUntil(until: number): void {
  while (Date.now() < until) {
    // a pause of the process: a long synchronous task, a GC pause, a VM being migrated
  }
}

describe('scheduled jobs: late ticks and missed slots are caught up (issue 15, item 6)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  let clock: Date;
  const at = (iso: string) => new Date(iso);
  const slotsOf = async (job: string) => ((await app.db('job_runs').where({ job }).orderBy('slot').select('slot')) as Array<{ slot: unknown }>).map((r) => toDate(r.slot).toISOString());
  const ranSlots = (outcomes: Map<string, RunOutcome>) => [...outcomes].filter(([, o]) => o.status === 'ran').map(([name]) => name);

  beforeEach(async () => {
    app = await startTestApp();
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
  });
  afterEach(() => app.close());

  it('a process that was down across a daily tick runs the job for that slot at start-up, once, and not again', async () => {
    const name = 'sweep-orphans'; // '57 4 * * *'
    clock = at('2026-03-09T04:57:00Z');
    expect((await createScheduler(deps, JOBS, { now: async () => clock }).run(name, at('2026-03-09T04:57:00Z'))).status).to.equal('ran');

    // Down from 04:00 to 06:10 the next day: the 04:57 tick never fired.
    clock = at('2026-03-10T06:10:23Z');
    const { logger, lines } = capturedLogger();
    const restarted = createScheduler({ ...deps, logger }, JOBS, { now: async () => clock });
    const outcomes = await restarted.catchUp();
    expect(outcomes.get(name)?.status, JSON.stringify([...outcomes])).to.equal('ran');
    expect(await slotsOf(name)).to.deep.equal(['2026-03-09T04:57:00.000Z', '2026-03-10T04:57:00.000Z']);
    const line = lines.find((l) => l.job === name && /missed/.test(String(l.msg)));
    expect(line, JSON.stringify(lines)).to.include({ level: 40, slot: '2026-03-10T04:57:00.000Z' });

    // Every minute after that: nothing more to do until tomorrow's slot.
    clock = at('2026-03-10T06:11:23Z');
    expect((await restarted.catchUp()).get(name)).to.equal(undefined);
    clock = at('2026-03-11T04:57:10Z'); // tomorrow's tick is due now: its own timer runs it, not the catch-up
    expect((await restarted.catchUp()).get(name)).to.equal(undefined);
    clock = at('2026-03-11T04:58:01Z'); // ...but if the tick did not come, the next minute does it
    expect((await restarted.catchUp()).get(name)?.status).to.equal('ran');
    expect(await slotsOf(name)).to.deep.equal(['2026-03-09T04:57:00.000Z', '2026-03-10T04:57:00.000Z', '2026-03-11T04:57:00.000Z']);
    await restarted.stop();
  });

  it('a tick that ran, or a run started by hand after the slot, leaves nothing to catch up', async () => {
    clock = at('2026-03-10T04:57:00Z');
    const s = createScheduler(deps, JOBS, { now: async () => clock });
    expect((await s.run('sweep-orphans', at('2026-03-10T04:57:00Z'))).status).to.equal('ran');
    clock = at('2026-03-10T05:30:00Z');
    expect((await s.run('rotate-security-log')).status).to.equal('ran'); // by hand, after its 03:17 slot
    clock = at('2026-03-10T06:00:00Z');
    const outcomes = await createScheduler(deps, JOBS, { now: async () => clock }).catchUp();
    expect(outcomes.get('sweep-orphans')).to.equal(undefined);
    expect(outcomes.get('rotate-security-log')).to.equal(undefined);
    expect(await slotsOf('sweep-orphans')).to.have.length(1);
  });

  it('a job that has never run runs at start-up (a fresh install does not wait a day for its first sweep)', async () => {
    clock = at('2026-03-10T12:00:30Z');
    const outcomes = await createScheduler(deps, JOBS, { now: async () => clock }).catchUp();
    expect(ranSlots(outcomes).sort()).to.deep.equal(JOBS.map((j) => j.name).sort());
    expect(await slotsOf('sweep-orphans')).to.deep.equal(['2026-03-10T04:57:00.000Z']);
    expect(await slotsOf('expire-guest-uploads')).to.deep.equal(['2026-03-10T11:55:00.000Z']); // '*/5': the last whole minute that matched
  });

  it('replicas catching up the same missed slot do the work once', async () => {
    const { databaseUrl, dataDir } = testDatabase();
    const replicaDb = createDb({ databaseUrl, dataDir });
    try {
      clock = at('2026-03-09T04:57:00Z');
      await createScheduler(deps, JOBS, { now: async () => clock }).run('sweep-orphans', clock);
      clock = at('2026-03-10T07:00:00Z');
      const other: JobDeps = createContainer({ ...deps, db: replicaDb });
      const [a, b] = await Promise.all([createScheduler(deps, JOBS, { now: async () => clock }).catchUp(), createScheduler(other, JOBS, { now: async () => clock }).catchUp()]);
      for (const job of JOBS) {
        const statuses = [a.get(job.name)?.status, b.get(job.name)?.status];
        expect(statuses.filter((s) => s === 'ran'), job.name).to.have.length(1);
      }
      expect(await slotsOf('sweep-orphans')).to.deep.equal(['2026-03-09T04:57:00.000Z', '2026-03-10T04:57:00.000Z']);
    } finally {
      await replicaDb.destroy();
    }
  });

  it('a tick delivered seconds late (the event loop was blocked across it) still runs its job, and says so in the JSON log', async () => {
    let ranFor: Date | null = null;
    const { logger, lines } = capturedLogger();
    // The event loop is blocked from the very turn that arms node-cron's timer (start() arms it synchronously) until
    // well past the tick, so the timer cannot fire on time however loaded the machine is. The only thing timing can
    // spoil is getting to start() before the tick at all: then the attempt is made again with a later tick.
    let tick = 0;
    let s: ReturnType<typeof createScheduler> | null = null;
    for (let attempt = 1; s === null; attempt++) {
      expect(attempt, 'start() could not be reached before a tick 2 s ahead in 3 attempts').to.be.at.most(3);
      // A daily job whose tick is two seconds from now (seconds field: the tick is at an exact second).
      tick = Math.ceil(Date.now() / 1000) * 1000 + 2000;
      const t = new Date(tick);
      const schedule = `${t.getUTCSeconds()} ${t.getUTCMinutes()} ${t.getUTCHours()} * * *`;
      const daily: Job = { name: 'late-daily', schedule, run: async (_deps, now) => ((ranFor = now), { items: 1 }) };
      // The job ran yesterday: the catch-up at start has nothing to do, only the tick can run today's slot.
      await app.db('job_runs').where({ job: 'late-daily' }).delete();
      await app.db('job_runs').insert({ id: `yesterday-${attempt}`, job: 'late-daily', slot: new Date(tick - DAY - (tick % MINUTE)), started_at: new Date(tick - DAY), finished_at: new Date(tick - DAY), items: 0 });
      if (Date.now() > tick - 500) continue;
      s = createScheduler({ ...deps, logger, config: { ...deps.config, jobsEnabled: true, jobsDisabled: [], jobSchedules: {} } }, [daily]);
      s.start();
      blockUntil(tick + 2300); // node-cron's timer fires 2.3 s late; its default tolerance (1 s) dropped the tick
    }
    try {
      const deadline = Date.now() + 10_000;
      while (ranFor === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await s.stop();
    }
    expect(ranFor, `the late tick did not run: ${JSON.stringify(lines)}`).to.not.equal(null);
    // A schedule with a seconds field names its slots by the second: the late tick's slot is the tick itself.
    expect(await slotsOf('late-daily')).to.deep.equal([new Date(tick - DAY - (tick % MINUTE)).toISOString(), new Date(tick).toISOString()]);
    const late = lines.find((l) => /late/.test(String(l.msg)));
    expect(late, JSON.stringify(lines)).to.include({ job: 'late-daily', level: 40 });
    expect(late!.lateMs).to.be.at.least(2000);
  });
});
