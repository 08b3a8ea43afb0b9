import path from 'node:path';
import cookieParser from 'cookie-parser';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { createRepos } from './db/repos.js';
import { createConsentLogRepo } from './db/consent-log.repo.js';
import { createEmailTokensRepo } from './db/email-tokens.repo.js';
import { createImagesRepo } from './db/images.repo.js';
import { createDelivery, deliveryOrigin } from './http/delivery.js';
import { pageViews } from './http/middleware/page-views.middleware.js';
import { policyFacts } from './services/policy.service.js';
import { createRecoveryRepo } from './db/recovery.repo.js';
import { createSessionsRepo } from './db/sessions.repo.js';
import { createUsersRepo } from './db/users.repo.js';
import type { Db } from './db/knex.js';
import { createSecurityLogRepo } from './db/security-log.repo.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { viewLocals } from './http/middleware/locals.middleware.js';
import { requestContext } from './http/middleware/request-context.middleware.js';
import { cspNonce, securityHeaders } from './http/middleware/security-headers.middleware.js';
import { createCsrf } from './http/middleware/csrf.middleware.js';
import { publicUrlCheck } from './http/middleware/public-url-check.middleware.js';
import { loadSession } from './http/middleware/session.middleware.js';
import { accountImagesBodyParsers, accountImagesRoutes } from './http/routes/account/images.routes.js';
import { adminRoutes } from './http/routes/admin/dashboard.routes.js';
import { adminModerationRoutes } from './http/routes/admin/moderation.routes.js';
import { adminBlocklistRoutes } from './http/routes/admin/blocklist.routes.js';
import { adminPrivacyRoutes } from './http/routes/admin/privacy.routes.js';
import { adminBansRoutes } from './http/routes/admin/bans.routes.js';
import { adminCopyrightRoutes } from './http/routes/admin/copyright.routes.js';
import { counterNoticeRoutes } from './http/routes/account/counter-notice.routes.js';
import { adminUsersRoutes } from './http/routes/admin/users.routes.js';
import { reportRoutes } from './http/routes/public/report.routes.js';
import { accountDeletionRoutes } from './http/routes/account/deletion.routes.js';
import { accountSettingsRoutes } from './http/routes/account/settings.routes.js';
import type { AccountDeps } from './http/account-deps.js';
import { albumsRoutes } from './http/routes/account/albums.routes.js';
import { sharedAlbumRoutes } from './http/routes/public/albums.routes.js';
import { authRoutes } from './http/routes/public/auth.routes.js';
import { setupRoutes } from './http/routes/public/setup.routes.js';
import { deleteRoutes } from './http/routes/public/delete.routes.js';
import { healthRoutes } from './http/routes/public/health.routes.js';
import { imagesRoutes } from './http/routes/public/images.routes.js';
import { pagesRoutes } from './http/routes/public/pages.routes.js';
import { profileRoutes } from './http/routes/public/profile.routes.js';
import { uploadRoutes } from './http/routes/public/upload.routes.js';
import { randomBase62 } from './lib/ids.js';
import { Semaphore } from './lib/semaphore.js';
import type { AuthDeps } from './services/auth.service.js';
import { createMailer } from './services/mailer.service.js';
import { createRateLimits, type RateLimits } from './services/rate-limits.service.js';
import type { SessionsDeps } from './services/sessions.service.js';
import type { StorageDriver } from './storage/storage.js';

const ROOT = path.resolve(import.meta.dirname, '..');
// Compiled code runs from dist/server; views and public stay at the repository (or image) root.
const PROJECT_ROOT = path.basename(ROOT) === 'dist' ? path.dirname(ROOT) : ROOT;

export type AppDeps = {
  config: Config;
  db: Db;
  storage: StorageDriver;
  logger: Logger;
  /** Where multer and sharp write temporary files. */
  tempDir: string;
  clock?: () => Date;
  /** Tests may swap the limits (e.g. lower them); production uses the defaults. */
  rateLimits?: RateLimits;
  /** Tests only: a cheaper bcrypt cost so each sign-up does not take 250 ms. Production always uses BCRYPT_COST (≥ 12). */
  bcryptCostForTests?: number;
};

/** Builds the Express app without listening, so tests drive exactly what production runs. */
export function createApp(deps: AppDeps): Express {
  const { config, db, storage, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const repos = createRepos(db);
  const images = createImagesRepo(db);
  const users = createUsersRepo(db);
  const sessionsRepo = createSessionsRepo(db);
  const recovery = createRecoveryRepo(db);
  const securityLog = createSecurityLogRepo;
  const https = config.publicUrl.startsWith('https:');
  const limits = deps.rateLimits ?? createRateLimits(db);
  const sessions: SessionsDeps = { sessions: sessionsRepo, users, clock, idleDays: config.sessionIdleDays, maxDays: config.sessionMaxDays };
  const auth: AuthDeps = {
    db,
    users,
    sessions: sessionsRepo,
    emailTokens: createEmailTokensRepo(db),
    consentLog: (trx) => createConsentLogRepo(trx ?? db),
    securityLog,
    mailer: createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, logger }),
    logger,
    clock,
    settings: { bcryptCost: deps.bcryptCostForTests ?? config.bcryptCost, publicUrl: config.publicUrl, termsVersion: config.termsVersion, minAge: config.minAge },
  };
  // The CSRF secret lives in the database, created on first use, so every replica signs and checks alike.
  let csrfSecret = '';
  const csrf = createCsrf({ secret: () => csrfSecret, https });
  const app = express();

  app.set('trust proxy', config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.set('x-powered-by', false);
  app.set('etag', false); // pages are dynamic; image responses set their own content ETags

  app.use(requestContext(logger));
  app.use(publicUrlCheck(config.publicUrl, logger));
  app.use(cspNonce);
  app.use(securityHeaders({ turnstile: config.turnstile !== null, https: config.publicUrl.startsWith('https:'), imageOrigin: deliveryOrigin(config) }));
  app.use(
    '/static',
    express.static(path.join(PROJECT_ROOT, 'public'), { index: false, fallthrough: true, maxAge: '1d', dotfiles: 'deny' }),
  );
  app.use(viewLocals(config));
  app.use(pageViews({ enabled: config.pageViewLogging, securityLog: () => securityLog(db), logger, clock }));
  app.use(healthRoutes({ db, storage }));
  // Loaded on the first request that needs it (and retried until the database answers).
  app.use(async (_req, _res, next) => {
    csrfSecret ||= await repos.appSecrets.getOrCreate('csrf', () => randomBase62(64), clock());
    next();
  });
  app.use(cookieParser());
  app.use(accountImagesBodyParsers()); // before the global parsers: the bulk-delete form needs a higher field limit
  // 150 fields: room for a bulk moderation form of up to 100 ticked images. 64 kB: the longest text fields
  // (5000 characters of report or counter-notice) percent-encode to up to 45 kB in non-Latin scripts.
  app.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 150 }));
  app.use(express.json({ limit: '64kb' }));
  app.use(loadSession({ ...sessions, https }));
  app.use(csrf.provideToken);

  app.use(pagesRoutes({ images, publicUrl: config.publicUrl, defaultQuotaBytes: config.defaultQuotaBytes, legal: { termsVersion: config.termsVersion, minAge: config.minAge, turnstile: config.turnstile !== null }, policy: policyFacts(config) }));
  app.use(authRoutes({ auth, sessions, limits, csrf, config }));
  app.use(setupRoutes({ auth, sessions, csrf, config }));
  const account: AccountDeps = { db, repos, config, logger, clock, images, users, sessions: sessionsRepo, sessionsDeps: sessions, securityLog, storage, recovery, csrf, limits, auth };
  app.use(accountImagesRoutes(account));
  app.use(albumsRoutes(account));
  app.use(accountSettingsRoutes(account));
  app.use(accountDeletionRoutes(account));
  app.use(adminRoutes(account));
  app.use(adminModerationRoutes(account));
  app.use(adminBlocklistRoutes(account));
  app.use(adminBansRoutes(account));
  app.use(adminCopyrightRoutes(account));
  app.use(counterNoticeRoutes(account));
  app.use(adminPrivacyRoutes(account));
  app.use(adminUsersRoutes(account));
  app.use(reportRoutes(account));
  app.use(profileRoutes(account));
  app.use(sharedAlbumRoutes(account));
  app.use(
    uploadRoutes({
      config,
      tempDir: deps.tempDir,
      csrf,
      limits,
      upload: {
        db,
        images,
        users,
        defaultQuotaBytes: config.defaultQuotaBytes,
        blocklistMatchDistance: config.blocklistMatchDistance,
        securityLog,
        storage,
        logger,
        clock,
        processing: new Semaphore(config.imageConcurrency),
        limits: { maxPixels: config.maxImagePixels, thumbnailSize: config.thumbnailSize, workDir: deps.tempDir },
      },
    }),
  );
  app.use(imagesRoutes({ images, storage, publicUrl: config.publicUrl, delivery: createDelivery(config, storage) }));
  app.use(deleteRoutes({ limits, db, images, users, securityLog, storage, recovery, logger, clock, publicUrl: config.publicUrl }));

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
