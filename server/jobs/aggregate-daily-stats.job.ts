import { DAY_MS, type Job } from './job.js';

const DONE = '_aggregated';
const MAX_DAYS_PER_RUN = 400;

const dayKey = (d: Date) => d.toISOString().slice(0, 10);
const startOfDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));

/**
 * Counts, per UTC day that has ended, how many events of each kind the security log holds (uploads, sign-ups,
 * logins, deletions…): numbers only, no ids, addresses or agents. A day is counted once (a marker row records
 * it), so the counts survive the raw rows' rotation.
 */
export const aggregateDailyStats: Job = {
  name: 'aggregate-daily-stats',
  schedule: '7 0 * * *',
  async run(deps, now) {
    const { db } = deps;
    const oldest = (await db('security_log').min({ at: 'created_at' }).first()) as { at: Date | number | string | null } | undefined;
    if (!oldest?.at) return { items: 0 };
    const first = startOfDay(new Date(typeof oldest.at === 'string' && /^\d+$/.test(oldest.at) ? Number(oldest.at) : oldest.at));
    const today = startOfDay(now);
    const done = new Set(((await db('daily_stats').where({ metric: DONE }).pluck('day')) as string[]));
    let days = 0;
    for (let day = first; day < today && days < MAX_DAYS_PER_RUN; day = new Date(day.getTime() + DAY_MS)) {
      const key = dayKey(day);
      if (done.has(key)) continue;
      const counts = (await db('security_log')
        .where('created_at', '>=', day)
        .andWhere('created_at', '<', new Date(day.getTime() + DAY_MS))
        .groupBy('event')
        .select('event')
        .count({ n: '*' })) as Array<{ event: string; n: number | string }>;
      await db.transaction(async (trx) => {
        await trx('daily_stats').where({ day: key }).delete();
        const rows = counts.map((c) => ({ day: key, metric: c.event, count: Number(c.n) }));
        rows.push({ day: key, metric: DONE, count: 1 });
        await trx('daily_stats').insert(rows);
      });
      days++;
    }
    return { items: days };
  },
};
