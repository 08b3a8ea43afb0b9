import type { Knex } from 'knex';
import { isUniqueViolation, toDate, toDateOrNull } from './knex.js';

export type JobRunStart = { id: string; job: string; slot: Date; startedAt: Date };
export type JobRunRecord = { job: string; startedAt: Date; finishedAt: Date | null; items: number; error: string | null };

/** One row per run of a scheduled job; (job, slot) is unique, so of replicas woken for one tick only one records it. */
export function createJobRunsRepo(db: Knex) {
  return {
    /** Records the start of a run; false when another run already took this (job, slot). */
    async start(run: JobRunStart): Promise<boolean> {
      try {
        await db('job_runs').insert({ id: run.id, job: run.job, slot: run.slot, started_at: run.startedAt, items: 0 });
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async finish(id: string, finishedAt: Date, result: { items: number; detail?: Record<string, unknown> }): Promise<void> {
      await db('job_runs').where({ id }).update({ finished_at: finishedAt, items: result.items, detail: JSON.stringify(result.detail ?? {}) });
    },

    async fail(id: string, finishedAt: Date, error: string): Promise<void> {
      await db('job_runs').where({ id }).update({ finished_at: finishedAt, error });
    },

    /** The latest slot a run of this job claimed (scheduled, caught up or by hand), or null if it never ran. */
    async lastSlot(job: string): Promise<Date | null> {
      const row = (await db('job_runs').where({ job }).max({ slot: 'slot' }).first()) as { slot?: unknown } | undefined;
      return toDateOrNull(row?.slot);
    },

    /**
     * Deletes up to `limit` runs that started before the cutoff, never a job's latest slot nor its latest start (the
     * scheduler's catch-up reads lastSlot, the staff dashboard lastRuns); returns how many went.
     */
    async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
      const old = db('job_runs as r')
        .select('r.id')
        .where('r.started_at', '<', cutoff)
        .andWhere('r.slot', '<', db('job_runs as s').max('s.slot').whereRaw('s.job = r.job'))
        .andWhere('r.started_at', '<', db('job_runs as t').max('t.started_at').whereRaw('t.job = r.job'))
        .limit(limit);
      return db('job_runs').whereIn('id', old).delete();
    },

    /** The latest run of each of these jobs (the staff dashboard); a job that never ran is absent. */
    async lastRuns(jobs: readonly string[]): Promise<Map<string, JobRunRecord>> {
      const runs = new Map<string, JobRunRecord>();
      for (const job of jobs) {
        const row = (await db('job_runs').where({ job }).orderBy('started_at', 'desc').first()) as Record<string, unknown> | undefined;
        if (row) runs.set(job, { job, startedAt: toDate(row.started_at), finishedAt: toDateOrNull(row.finished_at), items: Number(row.items ?? 0), error: (row.error as string | null) ?? null });
      }
      return runs;
    },
  };
}

export type JobRunsRepo = ReturnType<typeof createJobRunsRepo>;
