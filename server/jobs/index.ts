import { aggregateDailyStats } from './aggregate-daily-stats.job.js';
import { expireGuestUploads } from './expire-guest-uploads.job.js';
import { expireSessionsAndTokens } from './expire-sessions-and-tokens.job.js';
import { createImagesRepo } from '../db/images.repo.js';
import { createRecoveryRepo } from '../db/recovery.repo.js';
import { createSecurityLogRepo } from '../db/security-log.repo.js';
import { createUsersRepo } from '../db/users.repo.js';
import { createRepos } from '../db/repos.js';
import type { Job, JobDeps } from './job.js';
import { purgeDeletedAccounts } from './purge-deleted-accounts.job.js';
import { reapRecoveryStore } from './reap-recovery-store.job.js';
import { rotateSecurityLog } from './rotate-security-log.job.js';
import { sweepOrphans } from './sweep-orphans.job.js';

/** Every scheduled job, by name. */
export const JOBS: readonly Job[] = [rotateSecurityLog, aggregateDailyStats, purgeDeletedAccounts, expireGuestUploads, reapRecoveryStore, expireSessionsAndTokens, sweepOrphans];

/** The jobs' dependencies, built from what start-up prepared. */
export function createJobDeps(base: Pick<JobDeps, 'db' | 'storage' | 'config' | 'logger'>): JobDeps {
  return { ...base, repos: createRepos(base.db), images: createImagesRepo(base.db), users: createUsersRepo(base.db), recovery: createRecoveryRepo(base.db), securityLog: createSecurityLogRepo };
}
