import type { Knex } from 'knex';

/** Anonymous counts per UTC day (YYYY-MM-DD) and metric, kept after the rows they were counted from are gone. */
export function createDailyStatsRepo(db: Knex) {
  return {
    /** The metric's count for each day from `fromDay` (YYYY-MM-DD) on, oldest first. */
    async countsSince(metric: string, fromDay: string): Promise<Array<{ day: string; count: number }>> {
      const rows = (await db('daily_stats').where({ metric }).andWhere('day', '>=', fromDay).orderBy('day').select('day', 'count')) as Array<{ day: string; count: number | string }>;
      return rows.map((r) => ({ day: r.day, count: Number(r.count) }));
    },

    /** The days that have a row for this metric. */
    async daysWith(metric: string): Promise<Set<string>> {
      return new Set((await db('daily_stats').where({ metric }).pluck('day')) as string[]);
    },

    /** Replaces every count of the day with these (run it in a transaction so the day is never half written). */
    async replaceDay(day: string, counts: ReadonlyArray<{ metric: string; count: number }>): Promise<void> {
      await db('daily_stats').where({ day }).delete();
      if (counts.length) await db('daily_stats').insert(counts.map((c) => ({ day, metric: c.metric, count: c.count })));
    },
  };
}

export type DailyStatsRepo = ReturnType<typeof createDailyStatsRepo>;
