import type { Router } from 'express';
import { requireRecentReauth, requireStaff } from '../../middleware/staff.middleware.js';
import type { RouteDeps } from '../../route-deps.js';
import { staffActorOf } from '../../staff-helpers.js';
import { webhookPages } from '../../webhook-pages.js';

/**
 * /admin/webhooks: the site's own endpoints, for moderation events (admins only; everyone else gets 404). Creating,
 * changing, deleting one and rotating its secret need the password typed recently, like the other sensitive staff
 * actions; every change is in the audit log.
 */
export function adminWebhooksRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'limits' | 'outbound' | 'repos' | 'settings'>): Router {
  return webhookPages(deps, {
    base: '/admin/webhooks',
    views: { list: 'admin/webhooks', endpoint: 'admin/webhook', secret: 'admin/webhook-secret' },
    guard: [requireStaff('admin')],
    sensitive: [requireRecentReauth(deps)],
    scopeOf: (req) => ({ kind: 'instance', actor: staffActorOf(req) }),
    admin: true,
  });
}
