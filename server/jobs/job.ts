import { DAY_MS } from '../lib/time.js';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Db } from '../db/knex.js';
import type { Repos } from '../db/repos.js';
import type { StorageDriver } from '../storage/storage.js';
import type { AccountDeletionDeps } from '../services/account-deletion.service.js';

/** What every job may use. Jobs take `now` (the database clock, or a test's clock) and never read Date.now(). */
export type JobDeps = {
  /** Only for the scheduler: the database clock and the advisory lock (jobs use repos). */
  db: Db;
  storage: StorageDriver;
  config: Config;
  logger: Logger;
  repos: Repos;
  /** What account purges need, built once by the composition root. */
  deletion: AccountDeletionDeps;
};

/** What a run did: how many items it touched and a small detail for the run log (no identifiers of people). */
export type JobResult = { items: number; detail?: Record<string, unknown> };

/** A scheduled job. Every job is idempotent: running it twice in a row does nothing more the second time. */
export type Job = {
  name: string;
  /** Default cron expression (UTC); JOB_SCHEDULES can replace it. */
  schedule: string;
  run: (deps: JobDeps, now: Date) => Promise<JobResult>;
};

export { DAY_MS };
export const daysBefore = (now: Date, days: number): Date => new Date(now.getTime() - days * DAY_MS);

/**
 * Calls deleteBatch until it deletes fewer than `batch` rows; returns the total. Each batch is its own short
 * statement, so writers to the same table are never blocked for long.
 */
export async function deleteInBatches(deleteBatch: (limit: number) => Promise<number>, batch = 1000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const n = await deleteBatch(batch);
    deleted += n;
    if (n < batch) return deleted;
  }
}
