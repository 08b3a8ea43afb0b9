import type { Router } from 'express';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';
import { webhookPages } from '../../webhook-pages.js';

/** /account/webhooks: the account's own endpoints, for its image and album events. */
export function accountWebhooksRoutes(deps: Pick<RouteDeps, 'clock' | 'csrf' | 'limits' | 'outbound' | 'repos' | 'config'>): Router {
  return webhookPages(deps, {
    base: '/account/webhooks',
    views: { list: 'account/webhooks', endpoint: 'account/webhook', secret: 'account/webhook-secret' },
    guard: [requireUser],
    sensitive: [],
    scopeOf: (req) => ({ kind: 'account', user: authOf(req).user, client: clientInfo(req) }),
    admin: false,
  });
}
