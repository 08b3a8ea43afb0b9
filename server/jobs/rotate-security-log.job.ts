import { aggregateDailyStats } from './aggregate-daily-stats.job.js';
import { daysBefore, deleteInBatches, type Job } from './job.js';

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
    const deleted = await deleteInBatches((limit) => deps.repos.securityLog.deleteOlderThan(cutoff, limit));
    return { items: deleted, detail: { cutoff: cutoff.toISOString() } };
  },
};
