import { aggregateDailyStats } from './aggregate-daily-stats.job.js';
import { daysBefore, type Job } from './job.js';

const BATCH = 1000;

/**
 * Promise 1: rows holding IP addresses are kept at most IP_LOG_RETENTION_DAYS. Days about to go are counted into
 * daily_stats first; then rows older than the window are deleted a batch at a time, each batch its own short
 * statement, so uploads writing to the log are never blocked for long.
 */
export const rotateSecurityLog: Job = {
  name: 'rotate-security-log',
  schedule: '17 3 * * *',
  async run(deps, now) {
    await aggregateDailyStats.run(deps, now);
    const cutoff = daysBefore(now, deps.config.ipLogRetentionDays);
    let deleted = 0;
    for (;;) {
      const batch = await deps.repos.securityLog.deleteOlderThan(cutoff, BATCH);
      deleted += batch;
      if (batch < BATCH) break;
    }
    return { items: deleted, detail: { cutoff: cutoff.toISOString() } };
  },
};
