import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ImagesRepo } from '../db/images.repo.js';
import type { RecoveryRepo } from '../db/recovery.repo.js';
import type { Db } from '../db/knex.js';
import type { Repos } from '../db/repos.js';
import type { SecurityLogRepo } from '../db/security-log.repo.js';
import type { SessionsRepo } from '../db/sessions.repo.js';
import type { UsersRepo } from '../db/users.repo.js';
import type { AccountDeletionDeps } from '../services/account-deletion.service.js';
import type { SettingsDeps } from '../services/account-settings.service.js';
import type { AuthDeps } from '../services/auth.service.js';
import type { RateLimits } from '../services/rate-limits.service.js';
import type { SessionsDeps } from '../services/sessions.service.js';
import type { StorageDriver } from '../storage/storage.js';
import type { Csrf } from './middleware/csrf.middleware.js';

/** What the account route groups (my images, albums, settings) are built from. */
export type AccountDeps = {
  db: Db;
  repos: Repos;
  config: Config;
  logger: Logger;
  clock: () => Date;
  images: ImagesRepo;
  users: UsersRepo;
  sessions: SessionsRepo;
  sessionsDeps: SessionsDeps;
  securityLog: (trx: Knex) => SecurityLogRepo;
  storage: StorageDriver;
  recovery: RecoveryRepo;
  csrf: Csrf;
  limits: RateLimits;
  auth: AuthDeps;
};

/** What the settings service needs, from the account route deps. */
export function settingsDepsOf(deps: AccountDeps): SettingsDeps {
  return {
    db: deps.db,
    auth: deps.auth,
    users: deps.users,
    sessions: deps.sessions,
    securityLog: deps.securityLog,
    limits: deps.limits,
    clock: deps.clock,
    bcryptCost: deps.auth.settings.bcryptCost,
  };
}

/** What account deletion and purge need, from the account route deps. */
export function deletionDepsOf(deps: AccountDeps): AccountDeletionDeps {
  return {
    db: deps.db,
    users: deps.users,
    sessions: deps.sessions,
    images: deps.images,
    recovery: deps.recovery,
    emailTokens: deps.auth.emailTokens,
    securityLog: deps.securityLog,
    storage: deps.storage,
    mailer: deps.auth.mailer,
    logger: deps.logger,
    publicUrl: deps.config.publicUrl,
    purgeDays: deps.config.accountPurgeDays,
    clock: deps.clock,
  };
}
