import { z } from 'zod';
import { ACCOUNT_EVENTS, TEST_EVENT } from '../../services/webhook-events.js';

/**
 * The webhook endpoints' zod schemas (kept apart from schemas.ts): they validate /api/v1/webhooks input and, with
 * the answer schemas, feed the OpenAPI document. The exact rules (URL, events, lengths) are the service's; these
 * are loose outer bounds and the shapes.
 */
const MAX_RAW_URL = 4096;
const MAX_RAW_DESCRIPTION = 1000;
const MAX_PAGE = 100;

const time = (description: string) => z.string().meta({ format: 'date-time', description, example: '2026-01-02T03:04:05.000Z' });

const endpointId = z.string().regex(/^ep_[0-9A-Za-z]{20}$/).meta({ description: 'A webhook endpoint id (`ep_` and 20 letters and digits).', example: 'ep_Q1w2E3r4T5y6U7i8O9p0' });
const deliveryId = z.string().regex(/^msg_[0-9A-Za-z]{24}$/).meta({ description: 'A delivery id: the `webhook-id` header of its every attempt.', example: 'msg_Q1w2E3r4T5y6U7i8O9p0A1s2' });

export const WebhookParams = z.object({ id: endpointId });
export const WebhookDeliveryParams = z.object({ id: endpointId, delivery_id: deliveryId });

const EventSchema = z.enum(ACCOUNT_EVENTS).meta({ id: 'WebhookEvent', description: 'An event an account’s endpoint can subscribe to.' });
const events = z.array(z.string().max(64)).max(20).meta({ description: `Events to send, at least one of: ${ACCOUNT_EVENTS.join(', ')}.` });
const url = z.string().max(MAX_RAW_URL).meta({ format: 'uri', description: 'Where events are POSTed: http(s), at most 2048 characters, no user name or password.', example: 'https://example.com/hooks/pixbin' });
const description = z.string().max(MAX_RAW_DESCRIPTION).nullable().meta({ description: 'A note for you, at most 200 characters; null or "" for none.' });

export const CreateWebhookBody = z.strictObject({ url, description: description.optional(), events }).meta({ id: 'NewWebhook' });

export const PatchWebhookBody = z
  .strictObject({
    url: url.optional(),
    description: description.optional(),
    events: events.optional(),
    enabled: z.boolean().optional().meta({ description: 'false switches the endpoint off (its pending deliveries fail); true switches it back on and clears why it was off.' }),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'Send at least one of "url", "description", "events" and "enabled".' })
  .meta({ id: 'WebhookChanges' });

export const DeliveriesQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,9}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_PAGE))
    .default(20)
    .meta({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 20, description: `Page size, 1 to ${MAX_PAGE}.` }),
  cursor: z.string().max(128).optional().meta({ description: 'The next_cursor of the previous page; leave out for the first page.' }),
});

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string().meta({ format: 'uri' }),
    description: z.string().nullable(),
    events: z.array(EventSchema),
    enabled: z.boolean(),
    disabled_reason: z.enum(['owner', 'gone', 'failing', 'account_deleted']).nullable().meta({ description: 'Why it is off: you switched it off, the receiver answered 410 Gone, a delivery failed every retry, or the account is waiting to be deleted.' }),
    disabled_at: time('When it was switched off; null while on.').nullable(),
    failing_since: time('The first failed attempt since the last delivered one; null while deliveries succeed.').nullable(),
    previous_secret_valid_until: time('After a rotation, the previous secret signs too until then.').nullable(),
    created_at: time('When it was created.'),
    updated_at: time('When it last changed.'),
  })
  .meta({ id: 'Webhook', description: 'A webhook endpoint. Its signing secret is never part of it: only create and rotate-secret answer with it.' });

export const WebhookWithSecretSchema = WebhookSchema.extend({
  secret: z.string().meta({ description: 'The signing secret (`whsec_…`), shown in this answer only: store it now.', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).meta({ id: 'WebhookWithSecret' });

export const WebhookListSchema = z.object({ data: z.array(WebhookSchema) }).meta({ id: 'WebhookList' });

export const WebhookAttemptSchema = z
  .object({
    attempted_at: time('When the attempt was made.'),
    outcome: z.enum(['delivered', 'failed', 'gone', 'refused', 'timeout', 'error']),
    response_code: z.int().nullable(),
    duration_ms: z.int(),
    response_excerpt: z.string().nullable().meta({ description: 'The first 1 KB of the receiver’s answer.' }),
    error: z.string().nullable(),
  })
  .meta({ id: 'WebhookAttempt' });

export const WebhookDeliverySchema = z
  .object({
    id: z.string().meta({ description: 'The `webhook-id` header of every attempt.' }),
    event_type: z.string().meta({ example: TEST_EVENT }),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.int(),
    next_attempt_at: time('When the next attempt is due; null once finished.').nullable(),
    last_response_code: z.int().nullable(),
    created_at: time('When the event happened.'),
    finished_at: time('When it was delivered or failed for good.').nullable(),
    attempt_log: z.array(WebhookAttemptSchema).meta({ description: 'Every attempt, oldest first.' }),
  })
  .meta({ id: 'WebhookDelivery' });

export const WebhookDeliveryListSchema = z
  .object({ data: z.array(WebhookDeliverySchema), next_cursor: z.string().nullable().meta({ description: 'Pass as ?cursor= for the next page; null on the last page.' }) })
  .meta({ id: 'WebhookDeliveryList' });
