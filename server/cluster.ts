import cluster, { type Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { BootError, prepareRuntime } from './boot.js';
import { startupWarnings, type Config } from './config/config.js';
import type { OnConfigError } from './config/on-error.js';
import { failStartup } from './config-error-server.js';
import { relayImageChangesBetweenWorkers } from './db/cluster-feed.js';
import { createLogger } from './logger.js';
import { answerClusterMetrics } from './metrics/cluster-metrics.js';
import { StorageError } from './storage/storage.js';

/**
 * WEB_CONCURRENCY > 1: one primary process and that many workers sharing the port (node:cluster hands each new
 * connection to the next worker in turn). The primary prepares the database once (migrations) and the store,
 * then only supervises: it forks the workers, relays image changes between them on SQLite (db/cluster-feed.ts),
 * replaces a worker that dies, and on SIGTERM/SIGINT lets them all drain before it exits.
 */

/** Set by the primary in each worker's environment; never by an operator. */
const SLOT_VARIABLE = 'PIXBIN_CLUSTER_WORKER';
const JOBS_VARIABLE = 'PIXBIN_CLUSTER_JOBS';
const FIRST_VARIABLE = 'PIXBIN_CLUSTER_FIRST';

/** Delays before replacing a worker that died, by how many times its slot has died lately. */
const RESTART_BACKOFF_MS = [100, 500, 1000, 2000, 5000];
/** A worker that served this long before dying starts its slot's backoff over. */
const STABLE_MS = 30_000;
/** Replacements in a row that die before listening: past this, the primary gives up and exits non-zero. */
const MAX_START_FAILURES = 5;
/** Beyond SHUTDOWN_TIMEOUT_MS (each worker's own bound), how long the primary waits before it kills a worker. */
const STOP_GRACE_MS = 5000;

export type WorkerRole = {
  /** 1..WEB_CONCURRENCY: the same for a worker and its replacements (log lines carry it). */
  slot: number;
  /** Whether this worker runs the scheduled jobs (slot 1 only, so they run in exactly one process). */
  jobs: boolean;
  /** The first worker of slot 1 (not a replacement): it does what start-up does once, such as the setup link. */
  first: boolean;
};

/** This process's place in the cluster, or null when it is not a cluster worker (a lone process, or the primary). */
export function workerRole(env: NodeJS.ProcessEnv = process.env): WorkerRole | null {
  if (!cluster.isWorker) return null;
  const slot = Number(env[SLOT_VARIABLE]);
  return { slot: Number.isInteger(slot) && slot > 0 ? slot : cluster.worker!.id, jobs: env[JOBS_VARIABLE] === '1', first: env[FIRST_VARIABLE] === '1' };
}

/** The exit status when the port cannot be had (in use, or not permitted): 98 is EADDRINUSE on Linux. */
export const EXIT_CANNOT_LISTEN = 98;

/** The one line an operator reads when the server cannot listen. */
export function cannotListen(err: NodeJS.ErrnoException, config: Pick<Config, 'port' | 'host'>): string {
  const where = `port ${config.port} on ${config.host}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${where} is in use (another Pixbin or another program is listening there)`;
    case 'EACCES':
      return `${where} is not permitted to this user (ports below 1024 need root or CAP_NET_BIND_SERVICE; set PORT to a higher one)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${config.host} is not an address of this machine (check HOST)`;
    default:
      return `cannot listen on ${where}: ${err.message}`;
  }
}

type FailureMessage = { pixbin: 'worker-failed'; message: string; exitCode?: number; fields?: Record<string, unknown> };
type Failure = { message: string; exitCode?: number; fields?: Record<string, unknown> };

/**
 * A worker that cannot start tells the primary why (so it can say so once, and not fork again) and exits: 78 for
 * configuration and boot problems, or the exitCode given (EXIT_CANNOT_LISTEN), which the primary then exits with.
 */
export function failWorkerStartup(message: string, options: { exitCode?: number; fields?: Record<string, unknown> } = {}): void {
  const exit = () => process.exit(options.exitCode ?? 78);
  if (!process.connected || !process.send) return exit();
  process.send({ pixbin: 'worker-failed', message, ...options } satisfies FailureMessage, exit);
}

type Slot = { index: number; worker: Worker | null; listening: boolean; upSince: number; deaths: number; startFailures: number; failure: Failure | null; restart?: NodeJS.Timeout };

export async function runPrimary(config: Config, onError: OnConfigError): Promise<void> {
  const logger = createLogger(config.logLevel).child({ cluster: 'primary' });
  try {
    const runtime = await prepareRuntime(config, (applied) => {
      if (applied.length) logger.info({ migrations: applied }, 'applied database migrations');
    });
    // The workers open their own; the primary serves nothing.
    await runtime.db.destroy();
    runtime.storage.destroy?.();
  } catch (err) {
    if (err instanceof BootError || err instanceof StorageError) {
      logger.fatal(err.message);
      failStartup(err.message, onError);
      return;
    }
    throw err;
  }
  for (const warning of startupWarnings(config)) logger.warn(warning);
  relayImageChangesBetweenWorkers();
  // Workers ask here for /metrics, so a scrape counts every worker (metrics/cluster-metrics.ts).
  if (config.metrics) answerClusterMetrics();

  const count = config.webConcurrency;
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, worker: null, listening: false, upSince: 0, deaths: 0, startFailures: 0, failure: null }));
  let state: 'starting' | 'up' | 'stopping' = 'starting';
  let exitCode = 0;
  let afterStop: (() => void) | null = null;

  const live = () => slots.filter((s) => s.worker);

  const fork = (slot: Slot, first: boolean) => {
    slot.restart = undefined;
    slot.listening = false;
    slot.failure = null;
    const worker = cluster.fork({ [SLOT_VARIABLE]: String(slot.index), [JOBS_VARIABLE]: slot.index === 1 ? '1' : '0', [FIRST_VARIABLE]: first && slot.index === 1 ? '1' : '0' });
    slot.worker = worker;
    worker.on('error', (err: Error) => logger.warn({ err, worker: slot.index }, 'worker channel error'));
    worker.on('message', (message: unknown) => {
      const failed = message as FailureMessage | null;
      if (failed?.pixbin === 'worker-failed') slot.failure = { message: String(failed.message), exitCode: typeof failed.exitCode === 'number' ? failed.exitCode : undefined, fields: failed.fields };
    });
    worker.once('listening', () => {
      slot.listening = true;
      slot.upSince = performance.now();
      slot.startFailures = 0;
      if (state === 'starting' && slots.every((s) => s.listening)) {
        state = 'up';
        logger.info({ workers: count, port: config.port }, `all ${count} workers are listening`);
      }
    });
    worker.once('exit', (code: number | null, signal: string | null) => exited(slot, worker, code, signal as NodeJS.Signals | null));
  };

  /** Stops every worker (SIGTERM: each drains within SHUTDOWN_TIMEOUT_MS), then runs done. */
  const stopAll = (done: () => void) => {
    for (const slot of slots) clearTimeout(slot.restart);
    afterStop = done;
    if (!live().length) return done();
    for (const slot of live()) slot.worker!.process.kill('SIGTERM');
    const force = setTimeout(() => {
      logger.warn('workers did not stop in time; killing them');
      exitCode = 1;
      for (const slot of live()) slot.worker!.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + STOP_GRACE_MS);
    force.unref();
  };

  const giveUp = (slot: Slot, why: string) => {
    state = 'stopping';
    const failure = slot.failure;
    logger.fatal({ ...failure?.fields, worker: slot.index }, failure?.message ?? why);
    stopAll(() => {
      if (failure?.exitCode !== undefined) process.exit(failure.exitCode); // the port: no 503 page can be served on it
      else if (failure) failStartup(failure.message, onError); // a configuration or boot problem: 78 (or the 503 page)
      else process.exit(1);
    });
  };

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    if (state === 'stopping') {
      // A worker still starting when the stop came has no handler yet and dies of the SIGTERM itself: a clean stop too.
      if (code !== 0 && !(code === null && signal === 'SIGTERM')) exitCode = 1;
      if (!live().length) afterStop?.();
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    // A worker that could not listen: its replacement could not either (the port is not the primary's to free).
    if (!slot.listening && slot.failure?.exitCode !== undefined) return giveUp(slot, `worker ${slot.index} could not listen`);
    if (!slot.listening) {
      if (state === 'starting') return giveUp(slot, `worker ${slot.index} exited (${how}) before it could listen`);
      if (++slot.startFailures >= MAX_START_FAILURES) return giveUp(slot, `worker ${slot.index} failed to start ${slot.startFailures} times in a row (last: ${how})`);
    } else if (performance.now() - slot.upSince >= STABLE_MS) {
      slot.deaths = 0;
    }
    const delay = RESTART_BACKOFF_MS[Math.min(slot.deaths++, RESTART_BACKOFF_MS.length - 1)]!;
    logger.warn({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay, reason: slot.failure?.message }, `worker ${slot.index} exited (${how}); starting a replacement`);
    slot.restart = setTimeout(() => {
      if (state !== 'stopping') fork(slot, false);
    }, delay);
  };

  const stop = (signal: NodeJS.Signals) => {
    if (state === 'stopping') return;
    state = 'stopping';
    logger.info({ signal }, 'shutting down: every worker stops taking connections and finishes its requests');
    stopAll(() => {
      logger.info('stopped');
      process.exit(exitCode);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  logger.info({ workers: count }, `starting ${count} worker processes`);
  for (const slot of slots) fork(slot, true);
}
