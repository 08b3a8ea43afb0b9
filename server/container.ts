import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Db } from './db/knex.js';
import { startImageFeed } from './db/change-feed.js';
import { createRepos } from './db/repos.js';
import { metricsFor } from './metrics/metrics.js';
import { createOutbound } from './outbound/outbound.js';
import { Semaphore } from './lib/semaphore.js';
import { SessionLookupCache } from './services/session-lookup-cache.js';
import { knownDevices as createKnownDevices } from './services/known-devices.service.js';
import { createWebhookDispatcher } from './services/webhook-dispatcher.js';
import type { AccountDeletionDeps } from './services/account-deletion.service.js';
import type { SettingsDeps } from './services/account-settings.service.js';
import type { AuthDeps } from './services/auth.service.js';
import type { AccountImagesDeps } from './services/account-images.service.js';
import type { ModerationDeps } from './services/moderation.service.js';
import type { StaffUsersDeps } from './services/admin-users.service.js';
import type { StaffImagesDeps } from './services/staff-images.service.js';
import type { AlbumsDeps } from './services/albums.service.js';
import type { ApiKeysDeps } from './services/api-keys.service.js';
import { createMailer } from './services/mailer.service.js';
import { createRateLimits, type RateLimits } from './services/rate-limits.service.js';
import type { Repos } from './db/repos.js';
import type { SessionsDeps } from './services/sessions.service.js';
import type { UploadDeps } from './services/upload.service.js';
import type { StorageDriver } from './storage/storage.js';

/** What start-up (or a test) has prepared: configuration, logger, a migrated database and a checked store. */
export type ContainerInput = {
  config: Config;
  logger: Logger;
  db: Db;
  storage: StorageDriver;
  /** Where multer and sharp write temporary files. */
  tempDir: string;
  clock?: () => Date;
  /** Tests may swap the limits (e.g. lower them); production uses the defaults. */
  rateLimits?: (repos: Repos) => RateLimits;
  /** Tests only: a cheaper bcrypt cost so each sign-up does not take 250 ms. Production always uses BCRYPT_COST (≥ 12). */
  bcryptCostForTests?: number;
  /** Tests only: how often the webhook dispatcher looks for due deliveries (default 1 s). */
  webhookPollMs?: number;
  /**
   * Tests only: what a guest's upload by URL may reach although private. Production always passes nothing (guests
   * reach public addresses only); tests have no public address to fetch from, so they open their loopback server.
   */
  guestOutboundAllowForTests?: readonly string[];
};

/**
 * The one composition root: every repository, the storage driver, the mailer, the rate limits, the clock and each
 * service's dependencies are built here, once. The app, the scheduler, the CLIs and main.ts take what they need
 * from it, and route groups receive a Pick of it.
 */
export function createContainer(input: ContainerInput) {
  const { config, logger, db, storage, tempDir } = input;
  const clock = input.clock ?? (() => new Date());
  const repos = createRepos(db);
  // Other replicas' (PostgreSQL) or other cluster workers' (SQLite) image changes reach this process's serving caches within a second (db/change-feed.ts).
  const imageFeed = startImageFeed(db, { databaseUrl: config.databaseUrl, logger });
  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, logger });
  const limits = input.rateLimits?.(repos) ?? createRateLimits(repos);
  const bcryptCost = input.bcryptCostForTests ?? config.bcryptCost;
  // Off (NO_METRICS, no registry) unless METRICS_TOKEN or METRICS_LISTEN is set; one registry per container.
  const { metrics, exposition: metricsExposition } = metricsFor(config);
  // The one way out to user-supplied URLs (webhooks, upload by URL): every hop's address checked at connection time.
  const outbound = createOutbound({ allow: config.outboundAllow, logger });
  // Guests' upload by URL: public addresses only, whatever OUTBOUND_ALLOW opens for webhooks and accounts.
  const guestOutbound = createOutbound({ allow: input.guestOutboundAllowForTests ?? [], logger });
  // Webhooks get their own (its own DNS slots), so no burst of URL uploads to a dead DNS server can hold up deliveries.
  const webhookOutbound = createOutbound({ allow: config.outboundAllow, logger });

  const auth: AuthDeps = {
    repos,
    mailer,
    logger,
    clock,
    settings: { bcryptCost, publicUrl: config.publicUrl, termsVersion: config.termsVersion, minAge: config.minAge },
  };
  const sessions: SessionsDeps = { sessions: repos.sessions, users: repos.users, clock, idleDays: config.sessionIdleDays, maxDays: config.sessionMaxDays };
  // Who is signed in, for private image requests: a page of private thumbnails costs one session lookup, not one each.
  const sessionLookups = new SessionLookupCache();
  // Signed cookies that give a browser that logged in before its own login budget (OWASP device cookies).
  const knownDevices = createKnownDevices({ repos, clock });
  const settings: SettingsDeps = { repos, auth, limits, clock, bcryptCost };
  const deletion: AccountDeletionDeps = { repos, storage, mailer, logger, publicUrl: config.publicUrl, purgeDays: config.accountPurgeDays, clock };
  const upload: UploadDeps = {
    repos,
    defaultQuotaBytes: config.defaultQuotaBytes,
    unverifiedQuotaBytes: config.unverifiedQuotaBytes,
    blocklistMatchDistance: config.blocklistMatchDistance,
    storage,
    logger,
    clock,
    publicUrl: config.publicUrl,
    processing: new Semaphore(config.imageConcurrency),
    metrics,
    limits: { maxPixels: config.maxImagePixels, thumbnailSize: config.thumbnailSize, displayMaxPx: config.displayMaxPx, workDir: tempDir },
  };

  const moderation: ModerationDeps = { repos, storage, logger, repeatInfringer: config.repeatInfringer };
  const images: AccountImagesDeps = { repos, storage, logger, clock, defaultQuotaBytes: config.defaultQuotaBytes, unverifiedQuotaBytes: config.unverifiedQuotaBytes, publicUrl: config.publicUrl };

  const staffUsers: StaffUsersDeps = { ...deletion, defaultQuotaBytes: config.defaultQuotaBytes, repeatInfringer: config.repeatInfringer };
  const staffImages: StaffImagesDeps = { repos, recoveryDays: config.recoveryDays };
  const albums: AlbumsDeps = { albums: repos.albums, repos, clock, publicUrl: config.publicUrl };
  const apiKeys: ApiKeysDeps = { repos, clock };
  // Sends the webhook outbox. Built unstarted: main.ts starts it in every process and stops it before the database closes.
  const webhookDispatcher = createWebhookDispatcher({ repos, outbound: webhookOutbound, clock, logger, metrics, mailer, publicUrl: config.publicUrl, pollMs: input.webhookPollMs });

  return Object.freeze({ config, logger, clock, db, metrics, metricsExposition, outbound, guestOutbound, repos, imageFeed, storage, tempDir, mailer, limits, auth, sessions, sessionLookups, knownDevices, settings, deletion, upload, moderation, images, albums, staffUsers, staffImages, apiKeys, webhookDispatcher });
}

export type Container = ReturnType<typeof createContainer>;
