import type { Container } from './container.js';
import type { RouteDeps } from './http/route-deps.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import cookieParser from 'cookie-parser';
import express, { type Express } from 'express';
import { deliveryOrigin } from './http/delivery.js';
import { pageViews } from './http/middleware/page-views.middleware.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { viewLocals } from './http/middleware/locals.middleware.js';
import { requestContext } from './http/middleware/request-context.middleware.js';
import { metricsRoute } from './http/metrics-endpoint.js';
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
import { adminImagesRoutes } from './http/routes/admin/images.routes.js';
import { reportRoutes } from './http/routes/public/report.routes.js';
import { accountDeletionRoutes } from './http/routes/account/deletion.routes.js';
import { accountSettingsRoutes } from './http/routes/account/settings.routes.js';
import { accountApiKeysRoutes } from './http/routes/account/api-keys.routes.js';
import { accountWebhooksRoutes } from './http/routes/account/webhooks.routes.js';
import { adminWebhooksRoutes } from './http/routes/admin/webhooks.routes.js';
import { albumsRoutes } from './http/routes/account/albums.routes.js';
import { sharedAlbumRoutes } from './http/routes/public/albums.routes.js';
import { authRoutes } from './http/routes/public/auth.routes.js';
import { setupRoutes } from './http/routes/public/setup.routes.js';
import { deleteRoutes } from './http/routes/public/delete.routes.js';
import { healthRoutes } from './http/routes/public/health.routes.js';
import { imagesRoutes } from './http/routes/public/images.routes.js';
import { oembedRoutes } from './http/routes/public/oembed.routes.js';
import { pagesRoutes } from './http/routes/public/pages.routes.js';
import { transparencyRoutes } from './http/routes/public/transparency.routes.js';
import { adminTransparencyRoutes } from './http/routes/admin/transparency.routes.js';
import { profileRoutes } from './http/routes/public/profile.routes.js';
import { uploadRoutes } from './http/routes/public/upload.routes.js';
import { apiRoutes } from './http/routes/api/api.routes.js';
import { bodyStallGuard } from './http/middleware/body-stall.middleware.js';
import { imageServing } from './http/serving/fast-images.js';
import { ServedImageCache } from './http/serving/image-cache.js';
import { randomBase62 } from './lib/ids.js';

const ROOT = path.resolve(import.meta.dirname, '..');
// Compiled code runs from dist/server; views and public stay at the repository (or image) root.
const PROJECT_ROOT = path.basename(ROOT) === 'dist' ? path.dirname(ROOT) : ROOT;

/** Builds the Express app without listening, so tests drive exactly what production runs. */
export function createApp(container: Container): Express {
  const { config, logger, repos, clock } = container;
  // The CSRF secret lives in the database, created on first use, so every replica signs and checks alike.
  let csrfSecret = '';
  const csrf = createCsrf({ secret: () => csrfSecret, https: config.https });
  const { db: _routesNeverSeeTheDatabase, ...parts } = container;
  const deps: RouteDeps = { ...parts, csrf, servedImages: new ServedImageCache(repos, undefined, container.metrics) };
  const app = express();

  app.set('trust proxy', config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.set('x-powered-by', false);
  app.set('etag', false); // pages are dynamic; image responses set their own content ETags

  const pageHeaders = securityHeaders({ turnstile: config.turnstile !== null, https: config.https, imageOrigin: deliveryOrigin(config) });
  const images = imageServing({ ...deps, pageHeaders });
  app.use(requestContext(logger, container.metrics));
  // Before the public-URL check: Prometheus scrapes by an internal address. A 404 unless METRICS_TOKEN is set.
  app.use(metricsRoute(container.metricsExposition, config.metrics?.token));
  app.use(publicUrlCheck(config.publicUrl, logger));
  // Before anything reads a body: a body that stops arriving is answered 408 and its connection closed.
  app.use(bodyStallGuard(config, logger));
  // Image bytes are answered here, before the page middleware, cookies, sessions and body parsers; every case it
  // does not answer goes on to imagesRoutes below.
  app.use(images.router);
  app.use(cspNonce);
  app.use(pageHeaders);
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public'), { index: false, fallthrough: true, maxAge: '1d', dotfiles: 'deny' }));
  app.use(viewLocals(config));
  app.use(pageViews({ enabled: config.pageViewLogging, securityLog: () => repos.securityLog, logger, clock }));
  app.use(healthRoutes(deps));
  // The API sits before cookies, sessions, CSRF and the form parsers: it authenticates by API key alone, so a
  // browser's cookies never reach it and it has no CSRF surface.
  app.use(apiRoutes(deps));
  // oEmbed too: a JSON answer for anyone, with no cookie, session or form, so it needs none of what follows.
  app.use(oembedRoutes(deps));
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
  app.use(loadSession({ ...container.sessions, https: config.https }));
  app.use(csrf.provideToken);

  // Mounted in this order, which decides between overlapping paths: pages, sign-in, the account, staff, then the
  // public upload, image and delete surfaces.
  app.use(pagesRoutes(deps));
  app.use(transparencyRoutes(deps));
  app.use(authRoutes(deps));
  app.use(setupRoutes(deps));
  app.use(accountImagesRoutes(deps));
  app.use(albumsRoutes(deps));
  app.use(accountSettingsRoutes(deps));
  app.use(accountDeletionRoutes(deps));
  app.use(accountApiKeysRoutes(deps));
  app.use(accountWebhooksRoutes(deps));
  app.use(adminRoutes(deps));
  app.use(adminModerationRoutes(deps));
  app.use(adminBlocklistRoutes(deps));
  app.use(adminBansRoutes(deps));
  app.use(adminCopyrightRoutes(deps));
  app.use(counterNoticeRoutes(deps));
  app.use(adminPrivacyRoutes(deps));
  app.use(adminUsersRoutes(deps));
  app.use(adminImagesRoutes(deps));
  app.use(adminWebhooksRoutes(deps));
  app.use(adminTransparencyRoutes(deps));
  app.use(reportRoutes(deps));
  app.use(profileRoutes(deps));
  app.use(sharedAlbumRoutes(deps));
  app.use(uploadRoutes(deps));
  app.use(imagesRoutes(deps));
  app.use(deleteRoutes(deps));

  app.use(notFoundHandler);
  app.use(errorHandler(logger, { probeDatabase: () => repos.ping() }));

  // The image front sees every request first, on Node's own objects: what it does not answer enters Express as usual.
  type Handle = (req: IncomingMessage, res: ServerResponse, done?: () => void) => void;
  const withHandle = app as unknown as { handle: Handle };
  const handle = withHandle.handle.bind(app);
  withHandle.handle = (req, res, done) => images.front(req, res, () => handle(req, res, done));
  return app;
}
