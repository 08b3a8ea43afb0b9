import net from 'node:net';
import type { Repos } from '../db/repos.js';
import type { EndpointChanges, WebhookAttempt, WebhookDelivery, WebhookEndpoint } from '../db/webhooks.repo.js';
import type { UserRecord } from '../db/users.repo.js';
import { BadRequest, Conflict, NotFound } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { cleanTitle, titleLength } from '../lib/title.js';
import type { Outbound } from '../outbound/outbound.js';
import type { RateLimits } from './rate-limits.service.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { ACCOUNT_EVENTS, INSTANCE_EVENTS, newMessageId, TEST_EVENT, webhookBody } from './webhook-events.js';
import { newWebhookSecret, ROTATION_OVERLAP_MS } from './webhook-signing.js';
import { userHttpUrl } from '../lib/urls.js';

/**
 * Managing webhook endpoints: an account's (its own image and album events) or the instance's (moderation events,
 * managed by admins). The secret leaves this module only in the answer to create and rotate; lists and reads never
 * carry it. Another account's endpoint is the same 404 as one that does not exist. Every change is recorded: an
 * account's in the security log, the instance's in the staff audit log.
 */
export type WebhooksDeps = {
  repos: Pick<Repos, 'webhooks' | 'securityLog' | 'auditLog' | 'transaction'>;
  clock: () => Date;
  /** Only its address check: an IP literal the outbound guard would refuse is refused when the endpoint is saved. */
  outbound: Pick<Outbound, 'isAddressAllowed'>;
  /** "Send test event" and Resend spend webhookTestPerAccount (per account; the instance's endpoints share one budget). */
  limits: Pick<RateLimits, 'consume'>;
};

/** Whose budget a test event or a resend spends: the account's, or the instance's (all its admins together). */
const testBudgetOf = (scope: WebhookScope): string => (scope.kind === 'account' ? `account:${scope.user.id}` : 'instance');

export type Client = { ip: string | undefined; userAgent: string | undefined };

/** Whose endpoints: an account's (its holder acting) or the instance's (an admin acting). */
export type WebhookScope = { kind: 'account'; user: Pick<UserRecord, 'id'>; client: Client } | { kind: 'instance'; actor: StaffActor };

export const MAX_URL_CHARS = 2048;
export const MAX_DESCRIPTION_CHARS = 200;
export const MAX_ACCOUNT_ENDPOINTS = 10;
export const MAX_INSTANCE_ENDPOINTS = 20;
export const DELIVERY_PAGE = 20;
const ENDPOINT_ID = /^ep_[0-9A-Za-z]{20}$/;
const DELIVERY_ID = /^msg_[0-9A-Za-z]{24}$/;
const DELIVERY_CURSOR = /^(\d{1,15})\.(msg_[0-9A-Za-z]{24})$/;

export const eventsOfScope = (scope: WebhookScope): readonly string[] => (scope.kind === 'account' ? ACCOUNT_EVENTS : INSTANCE_EVENTS);
const ownerOf = (scope: WebhookScope): string | null => (scope.kind === 'account' ? scope.user.id : null);
const limitOf = (scope: WebhookScope): number => (scope.kind === 'account' ? MAX_ACCOUNT_ENDPOINTS : MAX_INSTANCE_ENDPOINTS);

export const messages = {
  urlRequired: 'Enter the URL Pixbin should send events to.',
  badUrl: 'The URL must be a complete http:// or https:// address with a host name, for example https://example.com/hooks/pixbin.',
  urlTooLong: `The URL can be at most ${MAX_URL_CHARS} characters.`,
  urlUserinfo: 'Leave the user name and password out of the URL (user:password@…): verify deliveries with the signing secret instead.',
  addressRefused: (ip: string) =>
    `Pixbin does not send to ${ip}: private, loopback and link-local addresses are refused unless the site operator lists them in OUTBOUND_ALLOW.`,
  noEvents: 'Choose at least one event to send.',
  badEvents: (allowed: readonly string[]) => `Events must be among: ${allowed.join(', ')}.`,
  descriptionTooLong: `A description can be at most ${MAX_DESCRIPTION_CHARS} characters.`,
  tooMany: (limit: number, instance: boolean) =>
    instance ? `The site can have at most ${limit} webhook endpoints. Delete one it no longer needs first.` : `An account can have at most ${limit} webhook endpoints. Delete one you no longer use first.`,
  disabled: 'The endpoint is switched off. Enable it first; nothing is sent to a disabled endpoint.',
  stillPending: 'This delivery is still being tried; it can be sent again once it has been delivered or has failed.',
  badCursor: 'That page position is not one Pixbin handed out (it was changed or cut short). Start again from the first page.',
};

// --- validation ------------------------------------------------------------------------------------------------------

/** The URL as given (trimmed), if Pixbin may send to it; IP literals are checked against the outbound guard here. */
export function cleanEndpointUrl(deps: Pick<WebhooksDeps, 'outbound'>, raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (!text) throw new BadRequest(messages.urlRequired, 'bad_webhook_url', 'url');
  if (text.length > MAX_URL_CHARS) throw new BadRequest(messages.urlTooLong, 'bad_webhook_url', 'url');
  const url = userHttpUrl(text);
  if (url === 'malformed') throw new BadRequest(messages.badUrl, 'bad_webhook_url', 'url');
  if (url === 'userinfo') throw new BadRequest(messages.urlUserinfo, 'bad_webhook_url', 'url');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (net.isIP(host) !== 0 && !deps.outbound.isAddressAllowed(host, host)) throw new BadRequest(messages.addressRefused(host), 'webhook_url_not_allowed', 'url');
  return text;
}

/** The ticked events (a list, or one comma-separated text), each allowed for the scope, in the canonical order. */
export function parseEvents(scope: WebhookScope, raw: unknown): string[] {
  const allowed = eventsOfScope(scope);
  const values = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  if (values.some((v) => typeof v !== 'string')) throw new BadRequest(messages.badEvents(allowed), 'bad_events', 'events');
  const list = (values as string[]).flatMap((v) => v.split(/[\s,]+/)).filter(Boolean);
  if (list.length === 0) throw new BadRequest(messages.noEvents, 'no_events', 'events');
  if (!list.every((e) => allowed.includes(e))) throw new BadRequest(messages.badEvents(allowed), 'bad_events', 'events');
  return allowed.filter((e) => list.includes(e));
}

export function cleanDescription(raw: unknown): string | null {
  const text = typeof raw === 'string' ? cleanTitle(raw) : '';
  if (titleLength(text) > MAX_DESCRIPTION_CHARS) throw new BadRequest(messages.descriptionTooLong, 'description_too_long', 'description');
  return text || null;
}

// --- the record of changes ------------------------------------------------------------------------------------------

type Change = 'create' | 'update' | 'delete' | 'rotate_secret';

/** What a log entry says about an endpoint: its id and host (a URL's path or query may carry a token), never the secret. */
const hostOf = (url: string): string => new URL(url).host;

async function record(tx: Pick<Repos, 'securityLog' | 'auditLog'>, scope: WebhookScope, change: Change, endpoint: Pick<WebhookEndpoint, 'id' | 'url'>, now: Date, detail: Record<string, unknown> = {}) {
  const about = { endpointId: endpoint.id, host: hostOf(endpoint.url), ...detail };
  if (scope.kind === 'account') await tx.securityLog.insert({ event: `webhook.${change}`, userId: scope.user.id, ...scope.client, detail: about }, now);
  else await recordStaffAction(tx, scope.actor, { action: `webhook.${change}`, targetType: 'webhook', targetId: endpoint.id, detail: about }, now);
}

// --- endpoints -------------------------------------------------------------------------------------------------------

export type NewEndpointInput = { url: unknown; description?: unknown; events: unknown };
export type EndpointUpdate = { url?: unknown; description?: unknown; events?: unknown; enabled?: boolean };

/** Creates an endpoint; the secret is in this answer only (show it once). */
export async function createEndpoint(deps: WebhooksDeps, scope: WebhookScope, input: NewEndpointInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const url = cleanEndpointUrl(deps, input.url);
  const description = cleanDescription(input.description);
  const events = parseEvents(scope, input.events);
  const ownerId = ownerOf(scope);
  const now = deps.clock();
  const id = `ep_${randomBase62(20)}`;
  const secret = newWebhookSecret();
  await deps.repos.transaction(async (tx) => {
    const limit = limitOf(scope);
    if ((await tx.webhooks.countEndpoints(ownerId)) >= limit) throw new Conflict(messages.tooMany(limit, ownerId === null), 'too_many_webhooks');
    await tx.webhooks.insertEndpoint({ id, ownerId, url, description, events, secret, createdAt: now });
    await record(tx, scope, 'create', { id, url }, now, { events });
  });
  const endpoint = await deps.repos.webhooks.findEndpoint(id);
  return { endpoint: endpoint!, secret };
}

export function listEndpoints(deps: WebhooksDeps, scope: WebhookScope): Promise<WebhookEndpoint[]> {
  return deps.repos.webhooks.listEndpoints(ownerOf(scope));
}

/** The scope's endpoint, or the same 404 as for one that does not exist (another account's is never admitted to). */
export async function getEndpoint(deps: Pick<WebhooksDeps, 'repos'>, scope: WebhookScope, endpointId: string): Promise<WebhookEndpoint> {
  const endpoint = ENDPOINT_ID.test(endpointId) ? await deps.repos.webhooks.findEndpoint(endpointId) : null;
  if (!endpoint || endpoint.ownerId !== ownerOf(scope)) throw new NotFound();
  return endpoint;
}

/**
 * Changes an endpoint. Switching it off (enabled: false) ends its pending deliveries (they can be resent one by one
 * later); switching it on clears why and since when it was off, and since when it was failing.
 */
export async function updateEndpoint(deps: WebhooksDeps, scope: WebhookScope, endpointId: string, input: EndpointUpdate): Promise<WebhookEndpoint> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  const changes: EndpointChanges = {};
  // Only what differs is changed and recorded: the page's form sends every field each time.
  const url = input.url === undefined ? undefined : cleanEndpointUrl(deps, input.url);
  const description = input.description === undefined ? undefined : cleanDescription(input.description);
  const events = input.events === undefined ? undefined : parseEvents(scope, input.events);
  if (url !== undefined && url !== endpoint.url) changes.url = url;
  if (description !== undefined && description !== endpoint.description) changes.description = description;
  if (events !== undefined && events.join(',') !== endpoint.events.join(',')) changes.events = events;
  const now = deps.clock();
  if (input.enabled === true && !endpoint.enabled) Object.assign(changes, { enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
  if (input.enabled === false && endpoint.enabled) Object.assign(changes, { enabled: false, disabledReason: 'owner', disabledAt: now });
  const changed = Object.keys(changes).filter((k) => k !== 'disabledReason' && k !== 'disabledAt' && k !== 'failingSince');
  if (changed.length === 0) return endpoint;
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.webhooks.updateEndpoint(endpoint.id, changes, now))) throw new NotFound();
    if (changes.enabled === false) await tx.webhooks.failPendingOf(endpoint.id, now);
    await record(tx, scope, 'update', { id: endpoint.id, url: changes.url ?? endpoint.url }, now, { changed, ...(changes.events ? { events: changes.events } : {}) });
  });
  return (await deps.repos.webhooks.findEndpoint(endpoint.id))!;
}

/** Deletes an endpoint with its delivery log. */
export async function deleteEndpoint(deps: WebhooksDeps, scope: WebhookScope, endpointId: string): Promise<void> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  const now = deps.clock();
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.webhooks.deleteEndpoint(endpoint.id))) throw new NotFound();
    await record(tx, scope, 'delete', endpoint, now);
  });
}

/** A new secret, shown once; the previous one goes on signing too for ROTATION_OVERLAP_MS, so receivers can switch over. */
export async function rotateSecret(deps: WebhooksDeps, scope: WebhookScope, endpointId: string): Promise<{ endpoint: WebhookEndpoint; secret: string; previousValidUntil: Date }> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  const now = deps.clock();
  const secret = newWebhookSecret();
  const previousValidUntil = new Date(now.getTime() + ROTATION_OVERLAP_MS);
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.webhooks.updateEndpoint(endpoint.id, { secret, previousSecret: endpoint.secret, previousSecretUntil: previousValidUntil }, now))) throw new NotFound();
    await record(tx, scope, 'rotate_secret', endpoint, now, { previousValidUntil: previousValidUntil.toISOString() });
  });
  return { endpoint: (await deps.repos.webhooks.findEndpoint(endpoint.id))!, secret, previousValidUntil };
}

// --- deliveries ------------------------------------------------------------------------------------------------------

/** Records a `webhook.test` delivery for this endpoint alone; the dispatcher sends it like any other. */
export async function sendTest(deps: WebhooksDeps, scope: WebhookScope, endpointId: string): Promise<LoggedDelivery> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  if (!endpoint.enabled) throw new Conflict(messages.disabled, 'webhook_disabled');
  // Each one is a send the dispatcher makes: limited, so one account cannot fill the outbox for everyone.
  await deps.limits.consume('webhookTestPerAccount', testBudgetOf(scope));
  const now = deps.clock();
  const id = newMessageId();
  await deps.repos.webhooks.insertDeliveries([{ id, endpointId: endpoint.id, eventType: TEST_EVENT, payload: webhookBody(TEST_EVENT, now, { endpoint_id: endpoint.id }), createdAt: now }]);
  return { ...(await deps.repos.webhooks.findDelivery(id))!, attemptLog: [] };
}

/** Sends one of the endpoint's finished deliveries again, from the start of the retry schedule, with the same webhook-id. */
export async function resendDelivery(deps: WebhooksDeps, scope: WebhookScope, endpointId: string, deliveryId: string): Promise<LoggedDelivery> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  const delivery = DELIVERY_ID.test(deliveryId) ? await deps.repos.webhooks.findDelivery(deliveryId) : null;
  if (!delivery || delivery.endpointId !== endpoint.id) throw new NotFound();
  if (!endpoint.enabled) throw new Conflict(messages.disabled, 'webhook_disabled');
  if (delivery.status === 'pending') throw new Conflict(messages.stillPending, 'delivery_pending');
  await deps.limits.consume('webhookTestPerAccount', testBudgetOf(scope));
  if (!(await deps.repos.webhooks.resend(delivery.id, deps.clock()))) throw new NotFound();
  // Its earlier attempts stay in the log; the next ones are added after them.
  return { ...(await deps.repos.webhooks.findDelivery(delivery.id))!, attemptLog: await deps.repos.webhooks.listAttempts(delivery.id) };
}

export type DeliveryPosition = { createdAt: Date; id: string };
export type LoggedDelivery = WebhookDelivery & { attemptLog: WebhookAttempt[] };

export const encodeDeliveryCursor = (p: DeliveryPosition): string => Buffer.from(`${p.createdAt.getTime()}.${p.id}`, 'utf8').toString('base64url');

export function decodeDeliveryCursor(cursor: string): DeliveryPosition {
  const match = /^[A-Za-z0-9_-]{1,80}$/.test(cursor) ? DELIVERY_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match) throw new BadRequest(messages.badCursor, 'bad_cursor', 'cursor');
  return { createdAt: new Date(Number(match[1])), id: match[2]! };
}

/**
 * One page of an endpoint's delivery log, newest first, each delivery with its attempts (oldest first). Three
 * queries whatever the page size: the endpoint, the page of deliveries (one extra row tells whether more follow),
 * and their attempts. `next` is the cursor of the following page, or null on the last.
 */
export async function deliveryLog(
  deps: Pick<WebhooksDeps, 'repos'>,
  scope: WebhookScope,
  endpointId: string,
  page: { cursor?: string | null; limit?: number } = {},
): Promise<{ endpoint: WebhookEndpoint; deliveries: LoggedDelivery[]; next: string | null }> {
  const endpoint = await getEndpoint(deps, scope, endpointId);
  const before = page.cursor ? decodeDeliveryCursor(page.cursor) : null;
  const limit = page.limit ?? DELIVERY_PAGE;
  const rows = await deps.repos.webhooks.listDeliveries(endpoint.id, { before, limit: limit + 1 });
  const shown = rows.slice(0, limit);
  const attempts = shown.length ? await deps.repos.webhooks.attemptsOf(shown.map((d) => d.id)) : [];
  const byDelivery = new Map<string, WebhookAttempt[]>();
  for (const a of attempts) byDelivery.set(a.deliveryId, [...(byDelivery.get(a.deliveryId) ?? []), a]);
  const last = shown.at(-1);
  return {
    endpoint,
    deliveries: shown.map((d) => ({ ...d, attemptLog: byDelivery.get(d.id) ?? [] })),
    next: rows.length > limit && last ? encodeDeliveryCursor(last) : null,
  };
}
