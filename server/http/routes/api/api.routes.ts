import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import type { RouteDeps } from '../../route-deps.js';
import { API_BASE, createApiSurface } from '../../api/endpoint.js';
import { docsView } from '../../api/docs-view.js';
import { authenticateKey, keyRateLimits, refuseKeyInQuery } from '../../api/key-auth.middleware.js';
import { noEndpoint, problemHandler } from '../../api/problem.js';
import { apiRequestLog } from '../../api/request-log.middleware.js';
import { accountEndpoints } from './account.endpoints.js';
import { albumEndpoints } from './albums.endpoints.js';
import { imageEndpoints } from './images.endpoints.js';
import { webhookEndpoints } from './webhooks.endpoints.js';

type Deps = Pick<RouteDeps, 'config' | 'logger' | 'clock' | 'repos' | 'limits' | 'tempDir' | 'upload' | 'images' | 'albums' | 'apiKeys' | 'outbound'>;

const OPENAPI_PATH = `${API_BASE}/openapi.json`;

// Answers are about one account and made with its key: no shared cache may keep them.
const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

/**
 * The programmatic surface: /api/v1 (API keys only, never cookies) and its reference at /api/docs. In order: the
 * request log and the refusal of keys in URLs, the open OpenAPI document, key authentication and the API rate
 * limits, the endpoints, then 404 and problem+json errors for everything under /api/v1.
 */
export function apiRoutes(deps: Deps): Router {
  const api = createApiSurface();
  api.open({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'Reference',
    summary: 'This OpenAPI 3.1 document',
    success: { status: 200, description: 'The document.', schema: z.object({ openapi: z.string() }).loose() },
    handle: ({ res }) => {
      res.set('Cache-Control', 'no-cache').json(document());
    },
  });
  accountEndpoints(api, deps);
  imageEndpoints(api, deps);
  albumEndpoints(api, deps);
  webhookEndpoints(api, deps);

  // Generated once, after every endpoint above has registered itself.
  let cached: ReturnType<typeof api.document> | null = null;
  const document = () => (cached ??= api.document(deps.config.publicUrl));
  const routeOf = (req: Request) => api.routeOf(req.method, req.originalUrl);

  const router = Router();
  router.get('/api/docs', (_req, res) => {
    res.render('api/docs', { title: 'API reference', api: docsView(document()) });
  });
  router.use(API_BASE, apiRequestLog({ ...deps, routeOf }, { skip: (route) => route === OPENAPI_PATH }), noStore, refuseKeyInQuery);
  router.use(api.publicRoutes);
  router.use(API_BASE, authenticateKey(deps), keyRateLimits(deps));
  router.use(api.keyedRoutes);
  router.use(API_BASE, noEndpoint);
  router.use(API_BASE, problemHandler({ publicUrl: deps.config.publicUrl, logger: deps.logger, routeOf: (req) => routeOf(req) ?? '(unmatched)' }));
  return router;
}
