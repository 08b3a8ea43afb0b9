import { aggregateDailyStats } from './aggregate-daily-stats.job.js';
import { backfillDisplayVariantsJob } from './backfill-display-variants.job.js';
import { expireGuestUploads } from './expire-guest-uploads.job.js';
import { expireSessionsAndTokens } from './expire-sessions-and-tokens.job.js';
import type { Job } from './job.js';
import { purgeDeletedAccounts } from './purge-deleted-accounts.job.js';
import { pruneWebhookLog } from './prune-webhook-log.job.js';
import { reapRecoveryStore } from './reap-recovery-store.job.js';
import { rotateApiLog } from './rotate-api-log.job.js';
import { rotateSecurityLog } from './rotate-security-log.job.js';
import { storageCleanup } from './storage-cleanup.job.js';
import { sweepOrphans } from './sweep-orphans.job.js';

/** Every scheduled job, by name. */
export const JOBS: readonly Job[] = [rotateSecurityLog, rotateApiLog, aggregateDailyStats, purgeDeletedAccounts, expireGuestUploads, reapRecoveryStore, expireSessionsAndTokens, sweepOrphans, storageCleanup, backfillDisplayVariantsJob, pruneWebhookLog];

