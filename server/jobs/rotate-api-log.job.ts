import { daysBefore, type Job } from './job.js';

const BATCH = 1000;

/**
 * The API request log carries IP addresses, so like the security log it is kept at most API_LOG_RETENTION_DAYS:
 * older rows are deleted a batch at a time, each batch its own short statement, so API calls writing to the log
 * are never blocked for long.
 */
export const rotateApiLog: Job = {
  name: 'rotate-api-log',
  schedule: '22 3 * * *',
  async run(deps, now) {
    const cutoff = daysBefore(now, deps.config.apiLogRetentionDays);
    let deleted = 0;
    for (;;) {
      const batch = await deps.repos.apiRequests.deleteOlderThan(cutoff, BATCH);
      deleted += batch;
      if (batch < BATCH) break;
    }
    return { items: deleted, detail: { cutoff: cutoff.toISOString() } };
  },
};
