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
  async run({ repos }, now) {
    const oldest = await repos.securityLog.oldestAt();
    if (!oldest) return { items: 0 };
    const first = startOfDay(oldest);
    const today = startOfDay(now);
    const done = await repos.dailyStats.daysWith(DONE);
    let days = 0;
    for (let day = first; day < today && days < MAX_DAYS_PER_RUN; day = new Date(day.getTime() + DAY_MS)) {
      const key = dayKey(day);
      if (done.has(key)) continue;
      const counts = (await repos.securityLog.countByEvent(day, new Date(day.getTime() + DAY_MS))).map((c) => ({ metric: c.event, count: c.count }));
      await repos.transaction((tx) => tx.dailyStats.replaceDay(key, [...counts, { metric: DONE, count: 1 }]));
      days++;
    }
    return { items: days };
  },
};
