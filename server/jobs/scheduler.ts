import { databaseOutageLog } from '../db/outage-log.js';
import { seconds } from '../lib/burst-log.js';
import { storageFullLog } from '../lib/storage-full.js';
import { randomUUID } from 'node:crypto';
import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { tryWithAdvisoryLock } from '../db/advisory-lock.js';
import { databaseNow } from '../db/knex.js';
import { DAY_MS, type Job, type JobDeps, type JobResult } from './job.js';
import { NO_METRICS, secondsSince, type Metrics } from '../metrics/types.js';

export type RunOutcome =
  | { status: 'ran'; runId: string; result: JobResult }
  | { status: 'failed'; runId: string; error: string }
  /** Another run of this job is going on (here or in another replica), or this slot already ran. */
  | { status: 'skipped'; reason: 'running' | 'locked' | 'slot_taken' };

export type Scheduler = {
  /** Starts the cron timers and the catch-up (15 s after start, then every minute): a job whose last slot has no run runs then. */
  start(): void;
  /** Stops the timers and waits for runs in progress to finish. */
  stop(): Promise<void>;
  /** Runs one job for a slot (a scheduled tick; by default the current time), with every guard a tick has. */
  run(name: string, slot?: Date): Promise<RunOutcome>;
  /**
   * Runs, for its slot, every job whose latest slot before the current minute has no run (the process was down,
   * paused, or the database unavailable at its tick); returns the outcome of each job it tried.
   */
  catchUp(): Promise<Map<string, RunOutcome>>;
  readonly jobs: readonly Job[];
};

const MINUTE_MS = 60_000;
/** How often start() looks for missed slots, and how long after start the first look is (start-up is busy enough). */
const CATCH_UP_EVERY_MS = MINUTE_MS;
const CATCH_UP_FIRST_AFTER_MS = 15_000;
/** How far back a missed slot is looked for: a week and a day (a monthly JOB_SCHEDULES job older than that waits for its tick). */
const CATCH_UP_LOOKBACK_MS = 8 * DAY_MS;
/** node-cron drops a tick that fires more than this late (its default is 1 s): here a late tick always runs. */
const LATE_TICK_TOLERANCE_MS = Number.MAX_SAFE_INTEGER;
/** A tick this late is logged (the process was paused, or its event loop blocked, across it). */
const LATE_TICK_LOG_MS = 1000;

/** node-cron's own messages go to the JSON log, never to the console (its default logger prints in colour). */
function cronLogger(logger: Logger): CronLogger {
  const log = logger.child({ component: 'node-cron' });
  const error = (level: 'error' | 'debug') => (message: string | Error, err?: Error) =>
    message instanceof Error ? log[level]({ err: message }, message.message) : log[level](err ? { err } : {}, message);
  return { info: (message) => log.info(message), warn: (message) => log.warn(message), error: error('error'), debug: error('debug') };
}

/**
 * Whether a minute holds a tick of this cron expression. Slots are minutes, so a seconds field is left out. Only the
 * task's matcher is used: the task is destroyed at once (no timer; node-cron's registry lets go of it).
 */
function minuteMatcher(expression: string): (minute: Date) => boolean {
  const fields = expression.trim().split(/\s+/);
  const task = cron.createTask(fields.length === 6 ? fields.slice(1).join(' ') : expression, () => undefined, { timezone: 'UTC' });
  void task.destroy();
  return (minute) => task.match(minute);
}

/** Per job: minutes up to checkedThrough have been looked at; due is a missed slot not yet run. */
type CatchUpState = { matches: (minute: Date) => boolean; checkedThrough: number | null; due: number | null; announced: number | null };

export class SchedulerConfigError extends Error {
  override name = 'SchedulerConfigError';
}

/**
 * Runs jobs in-process on node-cron. Three guards keep a job from running twice: an in-process flag (no overlap
 * with itself), a PostgreSQL advisory lock (no overlap with another replica), and the unique (job, slot) row in
 * job_runs (of replicas woken for the same tick, one does the work). Each run is recorded with its start, end,
 * items and error.
 *
 * No slot is skipped for a tick that came late (issue 15, item 6): node-cron's tolerance for late ticks is lifted,
 * and every minute (and at start) a job whose latest slot before the current minute has no run is run for that
 * slot. Daily retention jobs do not depend on the process being awake at one exact second; a process that was down
 * across a tick runs it when it starts; the (job, slot) claim keeps it to once per slot across replicas.
 */
export function createScheduler(deps: JobDeps, jobs: readonly Job[], options: { now?: () => Promise<Date>; metrics?: Pick<Metrics, 'jobRun'> } = {}): Scheduler {
  const { db, repos, logger, config } = deps;
  const metrics = options.metrics ?? NO_METRICS;
  const now = options.now ?? (() => databaseNow(db));
  const known = new Set(jobs.map((j) => j.name));
  for (const name of [...config.jobsDisabled, ...Object.keys(config.jobSchedules)]) {
    if (!known.has(name)) throw new SchedulerConfigError(`JOBS_DISABLED/JOB_SCHEDULES: no job is called "${name}" (jobs: ${[...known].join(', ')})`);
  }
  for (const [name, expression] of Object.entries(config.jobSchedules)) {
    if (!cron.validate(expression)) throw new SchedulerConfigError(`JOB_SCHEDULES: "${expression}" for ${name} is not a valid cron expression`);
  }
  const active = jobs.filter((j) => !config.jobsDisabled.includes(j.name));
  const scheduleOf = (job: Job) => config.jobSchedules[job.name] ?? job.schedule;
  const running = new Map<string, Promise<RunOutcome>>();
  let tasks: ScheduledTask[] = [];
  let catchUpTimer: NodeJS.Timeout | null = null;
  let started = false;
  let stopped = false;
  const catchUps = new Map<string, CatchUpState>(active.map((job) => [job.name, { matches: minuteMatcher(scheduleOf(job)), checkedThrough: null, due: null, announced: null }]));

  const execute = async (job: Job, slot: Date): Promise<RunOutcome> => {
    const locked = await tryWithAdvisoryLock(db, `pixbin:job:${job.name}`, async (): Promise<RunOutcome> => {
      const runId = randomUUID();
      const startedAt = await now();
      if (!(await repos.jobRuns.start({ id: runId, job: job.name, slot, startedAt }))) return { status: 'skipped', reason: 'slot_taken' };
      try {
        const result = await job.run(deps, startedAt);
        await repos.jobRuns.finish(runId, await now(), result);
        // A run that found nothing to do (the minutely storage-cleanup, mostly) is not worth a line a minute.
        logger[result.items > 0 ? 'info' : 'debug']({ job: job.name, items: result.items }, 'job finished');
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
    if (running.has(name)) {
      metrics.jobRun(name, 'skipped', null);
      return { status: 'skipped', reason: 'running' };
    }
    const started = process.hrtime.bigint();
    const outcome = (async () => execute(job, slot ?? (await now())))();
    running.set(name, outcome);
    try {
      const settled = await outcome;
      metrics.jobRun(name, settled.status === 'ran' ? 'success' : settled.status === 'failed' ? 'failure' : 'skipped', settled.status === 'skipped' ? null : secondsSince(started));
      return settled;
    } catch (err) {
      // The run could not start or be recorded (the database is out): a failure, which the caller logs.
      metrics.jobRun(name, 'failure', secondsSince(started));
      throw err;
    } finally {
      running.delete(name);
    }
  };

  /** Finds this job's latest slot before `at`'s minute; runs it if no run claimed it (or a later slot). */
  const catchUpJob = async (job: Job, state: CatchUpState, at: Date): Promise<RunOutcome | null> => {
    // The current minute belongs to its own tick: only whole minutes before it are caught up.
    const latest = Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    let lower = state.checkedThrough;
    if (lower === null) lower = Math.max((await repos.jobRuns.lastSlot(job.name))?.getTime() ?? -Infinity, latest - CATCH_UP_LOOKBACK_MS);
    for (let minute = latest; minute > lower; minute -= MINUTE_MS) {
      if (state.matches(new Date(minute))) {
        state.due = Math.max(state.due ?? minute, minute);
        break;
      }
    }
    state.checkedThrough = Math.max(lower, latest);
    if (state.due === null || stopped || running.has(job.name)) return null;
    const due = state.due;
    const lastSlot = await repos.jobRuns.lastSlot(job.name);
    if (lastSlot && lastSlot.getTime() >= due) {
      state.due = null;
      return null;
    }
    const slot = new Date(due);
    if (state.announced !== due) {
      state.announced = due;
      if (lastSlot) logger.warn({ job: job.name, slot, lastSlot }, `missed scheduled run of ${job.name} at ${slot.toISOString()} (the process was down, paused or without its database at that minute): running it now`);
      else logger.info({ job: job.name, slot }, `${job.name} has not run yet: running it now`);
    }
    const outcome = await run(job.name, slot);
    // Another run in progress (here or in another replica): the slot stays due for the next pass.
    if (outcome.status !== 'skipped' || outcome.reason === 'slot_taken') state.due = null;
    return outcome;
  };

  /**
   * One catch-up pass over every job, one job after another: on PostgreSQL each run holds a pooled connection for its
   * advisory lock, and every job at once would take the whole pool (and wait on itself). A job that fails to start
   * (the database is out) stays due; the others are still tried.
   */
  const catchUpPass = async (): Promise<Map<string, RunOutcome>> => {
    const at = await now();
    const outcomes = new Map<string, RunOutcome>();
    let failure: unknown = null;
    for (const job of active) {
      try {
        const outcome = await catchUpJob(job, catchUps.get(job.name)!, at);
        if (outcome) outcomes.set(job.name, outcome);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
    return outcomes;
  };

  const onBackgroundError = (err: unknown, job?: string) => {
    // During a database outage or with the disk full (SQLITE_FULL: not an outage) the failure is counted in that
    // burst's summary; the next pass runs the job.
    if (!storageFullLog(logger).failed(err, 'background') && !databaseOutageLog(logger).failed(err, 'background')) logger.error({ err, job }, 'job could not start');
  };
  let passInFlight: Promise<unknown> | null = null;
  const backgroundPass = () => {
    if (passInFlight || stopped) return;
    passInFlight = catchUpPass()
      .catch((err: unknown) => onBackgroundError(err))
      .finally(() => (passInFlight = null));
  };

  return {
    jobs: active,
    start() {
      if (!config.jobsEnabled || started) return;
      started = true;
      const nodeCronLogger = cronLogger(logger);
      tasks = active.map((job) => {
        const schedule = scheduleOf(job);
        // The tick names the slot, so replicas woken a moment apart name the same one: its minute, or its second for a
        // schedule with a seconds field (six fields).
        const bySecond = schedule.trim().split(/\s+/).length === 6;
        const task = cron.schedule(
          schedule,
          async (context) => {
            const slot = new Date(context.date);
            if (bySecond) slot.setUTCMilliseconds(0);
            else slot.setUTCSeconds(0, 0);
            const lateMs = Date.now() - context.date.getTime();
            if (lateMs > LATE_TICK_LOG_MS) logger.warn({ job: job.name, slot, tick: context.date, lateMs }, `cron tick for ${job.name} came ${seconds(lateMs)} s late (the process was paused or busy): running it now`);
            await run(job.name, slot).catch((err: unknown) => onBackgroundError(err, job.name));
          },
          { name: `pixbin:${job.name}`, timezone: 'UTC', noOverlap: true, missedExecutionTolerance: LATE_TICK_TOLERANCE_MS, logger: nodeCronLogger },
        );
        // A tick comes "missed" only when a later one of the same job was due by then (which runs): logged, never printed.
        task.on('execution:missed', (context) => logger.warn({ job: job.name, tick: context.date }, `cron tick for ${job.name} at ${context.date.toISOString()} was overtaken by a later one, which runs instead`));
        return task;
      });
      catchUpTimer = setTimeout(() => {
        catchUpTimer = setInterval(backgroundPass, CATCH_UP_EVERY_MS);
        catchUpTimer.unref();
        backgroundPass();
      }, CATCH_UP_FIRST_AFTER_MS);
      catchUpTimer.unref();
    },
    async stop() {
      stopped = true;
      if (catchUpTimer) clearTimeout(catchUpTimer); // clears an interval as well
      catchUpTimer = null;
      for (const task of tasks) await task.destroy();
      tasks = [];
      await passInFlight;
      await Promise.allSettled([...running.values()]);
    },
    run,
    catchUp: catchUpPass,
  };
}
