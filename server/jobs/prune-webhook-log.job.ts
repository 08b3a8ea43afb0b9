import { daysBefore, type Job } from './job.js';

const BATCH = 1000;

/**
 * The webhook delivery log (each attempt's status, response code and first 1 KB of the receiver's answer) is kept
 * WEBHOOK_LOG_RETENTION_DAYS: attempts made before the cut-off, and deliveries that finished before it, are deleted
 * a batch at a time. Pending deliveries of switched-off endpoints are ended first (failed as of when the endpoint went off); other pending deliveries stay (the retry schedule ends them within about 3 days).
 */
export const pruneWebhookLog: Job = {
  name: 'prune-webhook-log',
  schedule: '42 3 * * *',
  async run(deps, now) {
    const cutoff = daysBefore(now, deps.config.webhookLogRetentionDays);
    let attempts = 0;
    let deliveries = 0;
    for (;;) {
      const pruned = await deps.repos.webhooks.pruneBefore(cutoff, BATCH);
      attempts += pruned.attempts;
      deliveries += pruned.deliveries;
      if (pruned.attempts < BATCH && pruned.deliveries < BATCH) break;
    }
    return { items: attempts + deliveries, detail: { cutoff: cutoff.toISOString(), attempts, deliveries } };
  },
};
