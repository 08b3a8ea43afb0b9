import type { Repos } from '../db/repos.js';
import type { ImageRecord } from '../db/images.repo.js';
import type { AlbumRecord } from '../db/albums.repo.js';
import { randomBase62 } from '../lib/ids.js';
import { displayUrl, imageUrls } from '../lib/urls.js';

/** Events an account's endpoints can subscribe to: changes to its own images and albums. */
export const ACCOUNT_EVENTS = ['image.uploaded', 'image.updated', 'image.deleted', 'album.created', 'album.updated', 'album.deleted'] as const;
/** Events the instance's endpoints (managed by admins) can subscribe to. */
export const INSTANCE_EVENTS = ['report.created', 'moderation.decided', 'account.deleted'] as const;
/** What "Send test event" sends; never recorded by a change. */
export const TEST_EVENT = 'webhook.test';

export type AccountEventType = (typeof ACCOUNT_EVENTS)[number];
export type InstanceEventType = (typeof INSTANCE_EVENTS)[number];
export type WebhookEventType = AccountEventType | InstanceEventType | typeof TEST_EVENT;

/**
 * An event as it is recorded: for an account's endpoints (ownerId) or the instance's (ownerId null). `data` is
 * thin by rule: ids, URLs, sizes and visibility; never an IP address, an email address or a file name.
 */
export type WebhookEvent =
  | { type: AccountEventType; ownerId: string; data: EventData }
  | { type: InstanceEventType; ownerId: null; data: EventData };

/** The event's data, or how to read it (only when an endpoint subscribes, so a change nobody hears costs one query). */
export type EventData = Record<string, unknown> | (() => Promise<Record<string, unknown> | null>);

/** The webhook-id of a delivery (Standard Webhooks calls it the message id): the same on every attempt. */
export const newMessageId = (): string => `msg_${randomBase62(24)}`;

/** The body that is signed and sent: Standard Webhooks' recommended shape { type, timestamp, data }. */
export function webhookBody(type: WebhookEventType, at: Date, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data });
}

export type WebhookOutboxDeps = { clock: () => Date };

/**
 * Records an event for every enabled endpoint that subscribes to it, in the caller's transaction: the delivery rows
 * commit or roll back with the change itself (the outbox), and the dispatcher sends them afterwards. Returns how
 * many deliveries were recorded (none when lazy data finds the subject gone). The dispatcher polls for them.
 */
export async function recordWebhookEvent(deps: WebhookOutboxDeps, tx: Repos, event: WebhookEvent): Promise<number> {
  const endpoints = await tx.webhooks.subscribedEndpoints(event.ownerId, event.type);
  if (endpoints.length === 0) return 0;
  const data = typeof event.data === 'function' ? await event.data() : event.data;
  if (!data) return 0;
  const now = deps.clock();
  const payload = webhookBody(event.type, now, data);
  await tx.webhooks.insertDeliveries(endpoints.map((e) => ({ id: newMessageId(), endpointId: e.id, eventType: event.type, payload, createdAt: now })));
  return endpoints.length;
}

/**
 * The same event type for many subjects of one account at once (a bulk deletion): one look-up of the subscribers and
 * batched inserts, not two statements per subject.
 */
export async function recordWebhookEvents(deps: WebhookOutboxDeps, tx: Repos, type: AccountEventType, ownerId: string, data: ReadonlyArray<Record<string, unknown>>): Promise<number> {
  if (data.length === 0) return 0;
  const endpoints = await tx.webhooks.subscribedEndpoints(ownerId, type);
  if (endpoints.length === 0) return 0;
  const now = deps.clock();
  const deliveries = data.flatMap((d) => {
    const payload = webhookBody(type, now, d);
    return endpoints.map((e) => ({ id: newMessageId(), endpointId: e.id, eventType: type, payload, createdAt: now }));
  });
  await tx.webhooks.insertDeliveries(deliveries);
  return deliveries.length;
}

// --- payloads -------------------------------------------------------------------------------------------------------

/** An image as events describe it: no title, no file name, no uploader details. */
export function imageEventData(publicUrl: string, image: ImageRecord): Record<string, unknown> {
  const urls = imageUrls(publicUrl, image);
  return {
    id: image.id,
    visibility: image.visibility,
    url: urls.pageUrl,
    direct_url: urls.url,
    thumbnail_url: urls.thumbnailUrl,
    display_url: displayUrl(publicUrl, image),
    type: image.mime,
    size: image.size,
    width: image.width,
    height: image.height,
    created_at: image.createdAt.toISOString(),
  };
}

/** A deleted image: only its id (its URLs answer 404 by the time the event arrives). */
export const deletedImageEventData = (imageId: string): Record<string, unknown> => ({ id: imageId });

/** An album as events describe it: no title (it may name people). */
export function albumEventData(publicUrl: string, album: Pick<AlbumRecord, 'id' | 'createdAt'>): Record<string, unknown> {
  return { id: album.id, url: `${publicUrl}/a/${album.id}`, created_at: album.createdAt.toISOString() };
}

/** A moderation decision as the instance's webhooks hear it: its target and kind, never the statement of reasons or who decided. */
export const moderationEventData = (target: { kind: 'image' | 'album'; id: string }, decision: string): Record<string, unknown> => ({ target, decision });

/** A report as the instance's webhooks hear it: what it is about, its category and where it came from; never the reporter. */
export const reportEventData = (reportId: string, target: { kind: 'image' | 'album'; id: string }, reason: string, source: 'visitor' | 'account'): Record<string, unknown> => ({
  id: reportId,
  target: { kind: target.kind, id: target.id },
  reason,
  source,
});

/** An account being deleted, as the instance's webhooks hear it: its id and when it is (or was) erased; never a name or address. */
export const accountEventData = (userId: string, purgeAt: Date): Record<string, unknown> => ({ id: userId, purge_at: purgeAt.toISOString() });
