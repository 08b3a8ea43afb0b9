import type { z } from 'zod';
import type { WebhookEndpoint } from '../../../db/webhooks.repo.js';
import {
  createEndpoint,
  deleteEndpoint,
  deliveryLog,
  getEndpoint,
  listEndpoints,
  resendDelivery,
  rotateSecret,
  sendTest,
  updateEndpoint,
  type LoggedDelivery,
  type WebhookScope,
  type WebhooksDeps,
} from '../../../services/webhooks.service.js';
import type { ApiKeyCaller } from '../../../services/caller.js';
import { requireScope } from '../../../services/api-keys.service.js';
import type { ApiSurface } from '../../api/endpoint.js';
import {
  CreateWebhookBody,
  DeliveriesQuery,
  PatchWebhookBody,
  WebhookDeliveryListSchema,
  WebhookDeliveryParams,
  WebhookDeliverySchema,
  WebhookListSchema,
  WebhookParams,
  WebhookSchema,
  WebhookWithSecretSchema,
} from '../../api/webhook-schemas.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';

/**
 * An event tells its receiver what the matching read scope would: image events need `images:read` and album events
 * `albums:read` as well, so a key limited to `webhooks:manage` cannot learn private images' ids through a webhook.
 */
function requireEventScopes(caller: ApiKeyCaller, events: unknown): void {
  const list = Array.isArray(events) ? events.filter((e): e is string => typeof e === 'string') : [];
  if (list.some((e) => e.startsWith('image.'))) requireScope(caller, 'images:read');
  if (list.some((e) => e.startsWith('album.'))) requireScope(caller, 'albums:read');
}

export type WebhookEndpointDeps = Pick<RouteDeps, 'repos' | 'clock' | 'outbound' | 'limits'>;

const TAG = 'Webhooks';
const SCOPE = 'webhooks:manage';
const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

/** An endpoint as the API shows it: never its secret. */
export function apiWebhook(e: WebhookEndpoint): z.output<typeof WebhookSchema> {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    events: e.events as z.output<typeof WebhookSchema>['events'],
    enabled: e.enabled,
    disabled_reason: e.disabledReason,
    disabled_at: iso(e.disabledAt),
    failing_since: iso(e.failingSince),
    previous_secret_valid_until: e.previousSecret ? iso(e.previousSecretUntil) : null,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

export function apiDelivery(d: LoggedDelivery): z.output<typeof WebhookDeliverySchema> {
  return {
    id: d.id,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    last_response_code: d.lastResponseCode,
    created_at: d.createdAt.toISOString(),
    finished_at: iso(d.finishedAt),
    attempt_log: d.attemptLog.map((a) => ({
      attempted_at: a.attemptedAt.toISOString(),
      outcome: a.outcome,
      response_code: a.responseCode,
      duration_ms: a.durationMs,
      response_excerpt: a.responseExcerpt,
      error: a.error,
    })),
  };
}

/**
 * /api/v1/webhooks: the caller's webhook endpoints and their delivery logs (the `webhooks:manage` scope). Another
 * account's endpoint is a 404. The secret is in the answers to create and rotate-secret only.
 */
export function webhookEndpoints(api: ApiSurface, deps: WebhookEndpointDeps): void {
  const webhooks: WebhooksDeps = { repos: deps.repos, clock: deps.clock, outbound: deps.outbound, limits: deps.limits };
  const scopeOf = (caller: ApiKeyCaller, req: Parameters<typeof clientInfo>[0]): WebhookScope => ({ kind: 'account', user: caller.user, client: clientInfo(req) });

  api.keyed({
    method: 'get',
    path: '/webhooks',
    operationId: 'listWebhooks',
    tag: TAG,
    scope: SCOPE,
    summary: 'List your webhook endpoints',
    description: 'Oldest first. Secrets are never listed.',
    success: { status: 200, description: 'Every endpoint of the account.', schema: WebhookListSchema },
    handle: async ({ req, res, caller }) => {
      res.json({ data: (await listEndpoints(webhooks, scopeOf(caller, req))).map(apiWebhook) });
    },
  });

  api.keyed({
    method: 'post',
    path: '/webhooks',
    operationId: 'createWebhook',
    tag: TAG,
    scope: SCOPE,
    summary: 'Create a webhook endpoint',
    description:
      'Pixbin POSTs each chosen event to the URL, signed as Standard Webhooks describes (`webhook-id`, `webhook-timestamp`, `webhook-signature` headers). The answer carries the signing secret: it is shown this once. An account can have at most 10 endpoints. Subscribing to image events needs the `images:read` scope as well, album events `albums:read`.',
    body: { kind: 'json', schema: CreateWebhookBody },
    success: { status: 201, description: 'The new endpoint with its secret.', schema: WebhookWithSecretSchema },
    errors: [400, 409, 413, 415],
    handle: async ({ req, res, caller, body }) => {
      requireEventScopes(caller, body.events);
      const created = await createEndpoint(webhooks, scopeOf(caller, req), { url: body.url, description: body.description, events: body.events });
      res.status(201).json({ ...apiWebhook(created.endpoint), secret: created.secret });
    },
  });

  api.keyed({
    method: 'get',
    path: '/webhooks/{id}',
    operationId: 'getWebhook',
    tag: TAG,
    scope: SCOPE,
    summary: 'Get a webhook endpoint',
    params: WebhookParams,
    success: { status: 200, description: 'The endpoint (without its secret).', schema: WebhookSchema },
    errors: [404],
    handle: async ({ req, res, caller, params }) => {
      res.json(apiWebhook(await getEndpoint(webhooks, scopeOf(caller, req), params.id)));
    },
  });

  api.keyed({
    method: 'patch',
    path: '/webhooks/{id}',
    operationId: 'updateWebhook',
    tag: TAG,
    scope: SCOPE,
    summary: 'Change a webhook endpoint, or switch it off or on',
    description: 'Switching an endpoint off ends its pending deliveries (each can be resent later); switching it on clears why it was off.',
    params: WebhookParams,
    body: { kind: 'json', schema: PatchWebhookBody },
    success: { status: 200, description: 'The endpoint as it is now.', schema: WebhookSchema },
    errors: [400, 404, 413, 415],
    handle: async ({ req, res, caller, params, body }) => {
      // Any change (a new URL above all) needs the read scopes of the events it will carry, the current ones included.
      const current = await getEndpoint(webhooks, scopeOf(caller, req), params.id);
      requireEventScopes(caller, body.events ?? current.events);
      res.json(apiWebhook(await updateEndpoint(webhooks, scopeOf(caller, req), params.id, body)));
    },
  });

  api.keyed({
    method: 'delete',
    path: '/webhooks/{id}',
    operationId: 'deleteWebhook',
    tag: TAG,
    scope: SCOPE,
    summary: 'Delete a webhook endpoint',
    description: 'Its delivery log goes with it.',
    params: WebhookParams,
    success: { status: 204, description: 'Deleted.' },
    errors: [404],
    handle: async ({ req, res, caller, params }) => {
      await deleteEndpoint(webhooks, scopeOf(caller, req), params.id);
      res.status(204).end();
    },
  });

  api.keyed({
    method: 'post',
    path: '/webhooks/{id}/rotate-secret',
    operationId: 'rotateWebhookSecret',
    tag: TAG,
    scope: SCOPE,
    summary: 'Give a webhook endpoint a new signing secret',
    description: 'The answer carries the new secret, shown this once. For 24 hours deliveries are signed with both the new and the previous secret, so the receiver can switch over.',
    params: WebhookParams,
    success: { status: 200, description: 'The endpoint with its new secret.', schema: WebhookWithSecretSchema },
    errors: [404],
    handle: async ({ req, res, caller, params }) => {
      const rotated = await rotateSecret(webhooks, scopeOf(caller, req), params.id);
      res.json({ ...apiWebhook(rotated.endpoint), secret: rotated.secret });
    },
  });

  api.keyed({
    method: 'post',
    path: '/webhooks/{id}/test',
    operationId: 'sendWebhookTest',
    tag: TAG,
    scope: SCOPE,
    summary: 'Send a test event',
    description: 'Queues a `webhook.test` event, `{ "endpoint_id": … }`, for this endpoint alone; follow it in the delivery log. Test events and resends together are limited per account (30 an hour; 429 with `Retry-After` beyond).',
    params: WebhookParams,
    success: { status: 202, description: 'The queued delivery.', schema: WebhookDeliverySchema },
    errors: [404, 409],
    handle: async ({ req, res, caller, params }) => {
      res.status(202).json(apiDelivery(await sendTest(webhooks, scopeOf(caller, req), params.id)));
    },
  });

  api.keyed({
    method: 'get',
    path: '/webhooks/{id}/deliveries',
    operationId: 'listWebhookDeliveries',
    tag: TAG,
    scope: SCOPE,
    summary: 'The delivery log of a webhook endpoint',
    description: `Newest first, one page at a time: pass the answer’s \`next_cursor\` as \`cursor\` for the next page. Each delivery comes with its attempts (outcome, response code, duration and the first 1 KB of the answer). Finished deliveries are kept WEBHOOK_LOG_RETENTION_DAYS.`,
    params: WebhookParams,
    query: DeliveriesQuery,
    success: { status: 200, description: 'One page of deliveries.', schema: WebhookDeliveryListSchema },
    errors: [400, 404],
    handle: async ({ req, res, caller, params, query }) => {
      const page = await deliveryLog(webhooks, scopeOf(caller, req), params.id, { cursor: query.cursor ?? null, limit: query.limit });
      res.json({ data: page.deliveries.map(apiDelivery), next_cursor: page.next });
    },
  });

  api.keyed({
    method: 'post',
    path: '/webhooks/{id}/deliveries/{delivery_id}/resend',
    operationId: 'resendWebhookDelivery',
    tag: TAG,
    scope: SCOPE,
    summary: 'Send a delivery again',
    description: 'A delivered or failed delivery goes out again from the start of the retry schedule, with the same `webhook-id` (receivers that drop repeats will drop it). Counts against the same hourly limit as test events.',
    params: WebhookDeliveryParams,
    success: { status: 202, description: 'The delivery, pending again.', schema: WebhookDeliverySchema },
    errors: [404, 409],
    handle: async ({ req, res, caller, params }) => {
      res.status(202).json(apiDelivery(await resendDelivery(webhooks, scopeOf(caller, req), params.id, params.delivery_id)));
    },
  });
}
