import { databaseOutageLog } from '../db/outage-log.js';
import { randomUUID } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import { tryWithAdvisoryLock } from '../db/advisory-lock.js';
import { databaseNow } from '../db/knex.js';
import type { Job, JobDeps, JobResult } from './job.js';

export type RunOutcome =
  | { status: 'ran'; runId: string; result: JobResult }
  | { status: 'failed'; runId: string; error: string }
  /** Another run of this job is going on (here or in another replica), or this slot already ran. */
  | { status: 'skipped'; reason: 'running' | 'locked' | 'slot_taken' };

export type Scheduler = {
  /** Starts the cron timers (nothing runs at once). */
  start(): void;
  /** Stops the timers and waits for runs in progress to finish. */
  stop(): Promise<void>;
  /** Runs one job for a slot (a scheduled tick; by default the current time), with every guard a tick has. */
  run(name: string, slot?: Date): Promise<RunOutcome>;
  readonly jobs: readonly Job[];
};

export class SchedulerConfigError extends Error {
  override name = 'SchedulerConfigError';
}

/**
 * Runs jobs in-process on node-cron. Three guards keep a job from running twice: an in-process flag (no overlap
 * with itself), a PostgreSQL advisory lock (no overlap with another replica), and the unique (job, slot) row in
 * job_runs (of replicas woken for the same tick, one does the work). Each run is recorded with its start, end,
 * items and error.
 */
export function createScheduler(deps: JobDeps, jobs: readonly Job[], options: { now?: () => Promise<Date> } = {}): Scheduler {
  const { db, repos, logger, config } = deps;
  const now = options.now ?? (() => databaseNow(db));
  const known = new Set(jobs.map((j) => j.name));
  for (const name of [...config.jobsDisabled, ...Object.keys(config.jobSchedules)]) {
    if (!known.has(name)) throw new SchedulerConfigError(`JOBS_DISABLED/JOB_SCHEDULES: no job is called "${name}" (jobs: ${[...known].join(', ')})`);
  }
  for (const [name, expression] of Object.entries(config.jobSchedules)) {
    if (!cron.validate(expression)) throw new SchedulerConfigError(`JOB_SCHEDULES: "${expression}" for ${name} is not a valid cron expression`);
  }
  const active = jobs.filter((j) => !config.jobsDisabled.includes(j.name));
  const running = new Map<string, Promise<RunOutcome>>();
  let tasks: ScheduledTask[] = [];

  const execute = async (job: Job, slot: Date): Promise<RunOutcome> => {
    const locked = await tryWithAdvisoryLock(db, `pixbin:job:${job.name}`, async (): Promise<RunOutcome> => {
      const runId = randomUUID();
      const startedAt = await now();
      if (!(await repos.jobRuns.start({ id: runId, job: job.name, slot, startedAt }))) return { status: 'skipped', reason: 'slot_taken' };
      try {
        const result = await job.run(deps, startedAt);
        await repos.jobRuns.finish(runId, await now(), result);
        logger.info({ job: job.name, items: result.items }, 'job finished');
        return { status: 'ran', runId, result };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        await repos.jobRuns.fail(runId, await now(), message.slice(0, 2000));
        logger.error({ err, job: job.name }, 'job failed');
        return { status: 'failed', runId, error: message };
      }
    });
    return locked.ran ? locked.value : { status: 'skipped', reason: 'locked' };
  };

  const run = async (name: string, slot?: Date): Promise<RunOutcome> => {
    const job = jobs.find((j) => j.name === name);
    if (!job) throw new SchedulerConfigError(`no job is called "${name}"`);
    if (running.has(name)) return { status: 'skipped', reason: 'running' };
    const outcome = (async () => execute(job, slot ?? (await now())))();
    running.set(name, outcome);
    try {
      return await outcome;
    } finally {
      running.delete(name);
    }
  };

  return {
    jobs: active,
    start() {
      if (!config.jobsEnabled || tasks.length) return;
      tasks = active.map((job) =>
        cron.schedule(
          config.jobSchedules[job.name] ?? job.schedule,
          async (context) => {
            const slot = new Date(context.date);
            slot.setUTCSeconds(0, 0); // the tick, so replicas woken a moment apart name the same slot
            await run(job.name, slot).catch((err: unknown) => {
              // During a database outage the tick is counted in the outage's summary; the next tick runs it.
              if (!databaseOutageLog(logger).failed(err, 'background')) logger.error({ err, job: job.name }, 'job could not start');
            });
          },
          { name: `pixbin:${job.name}`, timezone: 'UTC', noOverlap: true },
        ),
      );
    },
    async stop() {
      for (const task of tasks) await task.destroy();
      tasks = [];
      await Promise.allSettled([...running.values()]);
    },
    run,
  };
}
