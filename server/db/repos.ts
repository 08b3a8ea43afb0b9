import type { Knex } from 'knex';
import { createAccountExportRepo } from './account-export.repo.js';
import { createApiKeysRepo } from './api-keys.repo.js';
import { createApiRequestsRepo } from './api-requests.repo.js';
import { createAlbumsRepo } from './albums.repo.js';
import { createAltchaSpentRepo } from './altcha-spent.repo.js';
import { createAuditLogRepo } from './audit-log.repo.js';
import { createAppSecretsRepo } from './app-secrets.repo.js';
import { createConsentLogRepo } from './consent-log.repo.js';
import { createCounterNoticesRepo } from './counter-notices.repo.js';
import { createDailyStatsRepo } from './daily-stats.repo.js';
import { createEmailTokensRepo } from './email-tokens.repo.js';
import { createHashBlocklistRepo } from './hash-blocklist.repo.js';
import { imageChangesOf, imageWriteLog, type ImageChanges, type ImageWriteLog } from './image-changes.js';
import { createImagesRepo } from './images.repo.js';
import { createIpBansRepo } from './ip-bans.repo.js';
import { createJobRunsRepo } from './job-runs.repo.js';
import type { Db, Dialect } from './knex.js';
import { createPrivacyRequestsRepo } from './privacy-requests.repo.js';
import { createRateLimitsRepo } from './rate-limits.repo.js';
import { createRecoveryRepo } from './recovery.repo.js';
import { createReportsRepo } from './reports.repo.js';
import { createSecurityLogRepo } from './security-log.repo.js';
import { createSessionsRepo } from './sessions.repo.js';
import { createStorageCleanupRepo } from './storage-cleanup.repo.js';
import { createTransparencyRepo } from './transparency.repo.js';
import { createUsersRepo } from './users.repo.js';
import { createWebhooksRepo } from './webhooks.repo.js';

/** Every repository, bound to one connection: the pool, or one transaction. */
function bind(db: Knex, dialect: Dialect, imageChanges: ImageChanges, imageWrites: ImageWriteLog) {
  return {
    dialect,
    /** Hears every change to image rows (the serving caches subscribe); see image-changes.ts. */
    imageChanges,
    /** Resolves when the database answers (readiness). */
    ping: async (): Promise<void> => {
      await db.raw('select 1');
    },
    accountExport: createAccountExportRepo(db),
    albums: createAlbumsRepo(db),
    altchaSpent: createAltchaSpentRepo(db),
    apiKeys: createApiKeysRepo(db),
    apiRequests: createApiRequestsRepo(db, dialect),
    auditLog: createAuditLogRepo(db),
    appSecrets: createAppSecretsRepo(db),
    consentLog: createConsentLogRepo(db),
    counterNotices: createCounterNoticesRepo(db),
    dailyStats: createDailyStatsRepo(db),
    emailTokens: createEmailTokensRepo(db),
    hashBlocklist: createHashBlocklistRepo(db),
    images: createImagesRepo(db, imageWrites),
    ipBans: createIpBansRepo(db),
    jobRuns: createJobRunsRepo(db),
    privacyRequests: createPrivacyRequestsRepo(db),
    rateLimits: createRateLimitsRepo(db, dialect),
    recovery: createRecoveryRepo(db),
    reports: createReportsRepo(db),
    securityLog: createSecurityLogRepo(db),
    sessions: createSessionsRepo(db),
    storageCleanup: createStorageCleanupRepo(db),
    transparency: createTransparencyRepo(db),
    users: createUsersRepo(db),
    webhooks: createWebhooksRepo(db, dialect),
  };
}

export type Repos = ReturnType<typeof bind> & {
  /**
   * The one transaction pattern: fn gets the same repositories bound to a transaction, which commits when fn
   * resolves and rolls back when it throws. Inside fn, tx.transaction nests as a savepoint.
   */
  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T>;
};

function reposOn(db: Knex, dialect: Dialect, imageChanges: ImageChanges, imageWrites: ImageWriteLog): Repos {
  return {
    ...bind(db, dialect, imageChanges, imageWrites),
    transaction: async <T>(fn: (tx: Repos) => Promise<T>) => {
      const writes = imageWrites.inTransaction();
      try {
        return await db.transaction((trx) => fn(reposOn(trx, dialect, imageChanges, writes)));
      } finally {
        writes.settle(); // committed or rolled back: either way a cached row read meanwhile may be stale
      }
    },
  };
}

/** Builds the repositories once, for the composition root (and for tests that need only the data layer). */
export function createRepos(db: Db): Repos {
  const changes = imageChangesOf(db);
  return reposOn(db, db.dialect, changes, imageWriteLog(changes));
}
