import { daysBefore, deleteInBatches, type Job } from './job.js';

/**
 * The API request log carries IP addresses, so like the security log it is kept at most API_LOG_RETENTION_DAYS:
 * older rows are deleted a batch at a time.
 */
export const rotateApiLog: Job = {
  name: 'rotate-api-log',
  schedule: '22 3 * * *',
  async run(deps, now) {
    const cutoff = daysBefore(now, deps.config.apiLogRetentionDays);
    const deleted = await deleteInBatches((limit) => deps.repos.apiRequests.deleteOlderThan(cutoff, limit));
    return { items: deleted, detail: { cutoff: cutoff.toISOString() } };
  },
};
