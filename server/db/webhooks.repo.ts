import type { Knex } from 'knex';
import { inBatches, toDate, toDateOrNull, type Dialect } from './knex.js';

/** Why an endpoint is off: its owner switched it off, its receiver answered 410 Gone, or a delivery exhausted its retries. */
/** 'account_deleted': its account asked to be deleted (a cancelled deletion switches these back on). */
export type EndpointDisabledReason = 'owner' | 'gone' | 'failing' | 'account_deleted';

export type WebhookEndpoint = {
  id: string;
  /** null: an instance-wide endpoint, managed by admins, for moderation events. */
  ownerId: string | null;
  url: string;
  description: string | null;
  events: string[];
  secret: string;
  previousSecret: string | null;
  previousSecretUntil: Date | null;
  enabled: boolean;
  disabledReason: EndpointDisabledReason | null;
  disabledAt: Date | null;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

export type NewWebhookEndpoint = Pick<WebhookEndpoint, 'id' | 'ownerId' | 'url' | 'description' | 'events' | 'secret' | 'createdAt'>;

export type EndpointChanges = Partial<
  Pick<WebhookEndpoint, 'url' | 'description' | 'events' | 'secret' | 'previousSecret' | 'previousSecretUntil' | 'enabled' | 'disabledReason' | 'disabledAt' | 'failingSince'>
>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export type WebhookDelivery = {
  /** The webhook-id header: the same on every attempt, so a receiver can drop a repeat. */
  id: string;
  endpointId: string;
  eventType: string;
  /** The exact body that is signed and sent. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lockedUntil: Date | null;
  /** Who holds the claim (a random value per claim); only its holder may record an attempt. */
  claimToken: string | null;
  lastResponseCode: number | null;
  createdAt: Date;
  finishedAt: Date | null;
};

export type NewDelivery = Pick<WebhookDelivery, 'id' | 'endpointId' | 'eventType' | 'payload' | 'createdAt'>;

export type AttemptOutcome = 'delivered' | 'failed' | 'gone' | 'refused' | 'timeout' | 'error';

export type WebhookAttempt = {
  id: number;
  deliveryId: string;
  endpointId: string;
  attemptedAt: Date;
  outcome: AttemptOutcome;
  responseCode: number | null;
  durationMs: number;
  /** At most the first 1 KB of the receiver's answer. */
  responseExcerpt: string | null;
  error: string | null;
};

export type NewAttempt = Omit<WebhookAttempt, 'id'>;

/** A claimed delivery with what sending it needs from its endpoint. */
export type ClaimedDelivery = WebhookDelivery & { endpoint: WebhookEndpoint };

type EndpointRow = {
  id: string;
  owner_id: string | null;
  url: string;
  description: string | null;
  events: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: unknown;
  enabled: boolean | number;
  disabled_reason: string | null;
  disabled_at: unknown;
  failing_since: unknown;
  created_at: unknown;
  updated_at: unknown;
};

type DeliveryRow = {
  id: string;
  endpoint_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number | string;
  next_attempt_at: unknown;
  locked_until: unknown;
  claim_token: string | null;
  last_response_code: number | null;
  created_at: unknown;
  finished_at: unknown;
};

type AttemptRow = {
  id: number;
  delivery_id: string;
  endpoint_id: string;
  attempted_at: unknown;
  outcome: string;
  response_code: number | null;
  duration_ms: number | string;
  response_excerpt: string | null;
  error: string | null;
};

const eventsOf = (value: string): string[] => value.split(',').filter(Boolean);

const endpointFromRow = (r: EndpointRow): WebhookEndpoint => ({
  id: r.id,
  ownerId: r.owner_id,
  url: r.url,
  description: r.description,
  events: eventsOf(r.events),
  secret: r.secret,
  previousSecret: r.previous_secret,
  previousSecretUntil: toDateOrNull(r.previous_secret_until),
  enabled: Boolean(r.enabled),
  disabledReason: r.disabled_reason as EndpointDisabledReason | null,
  disabledAt: toDateOrNull(r.disabled_at),
  failingSince: toDateOrNull(r.failing_since),
  createdAt: toDate(r.created_at),
  updatedAt: toDate(r.updated_at),
});

const deliveryFromRow = (r: DeliveryRow): WebhookDelivery => ({
  id: r.id,
  endpointId: r.endpoint_id,
  eventType: r.event_type,
  payload: r.payload,
  status: r.status as DeliveryStatus,
  attempts: Number(r.attempts),
  nextAttemptAt: toDateOrNull(r.next_attempt_at),
  lockedUntil: toDateOrNull(r.locked_until),
  claimToken: r.claim_token ?? null,
  lastResponseCode: r.last_response_code === null ? null : Number(r.last_response_code),
  createdAt: toDate(r.created_at),
  finishedAt: toDateOrNull(r.finished_at),
});

const attemptFromRow = (r: AttemptRow): WebhookAttempt => ({
  id: Number(r.id),
  deliveryId: r.delivery_id,
  endpointId: r.endpoint_id,
  attemptedAt: toDate(r.attempted_at),
  outcome: r.outcome as AttemptOutcome,
  responseCode: r.response_code === null ? null : Number(r.response_code),
  durationMs: Number(r.duration_ms),
  responseExcerpt: r.response_excerpt,
  error: r.error,
});

const endpointChangesToRow = (c: EndpointChanges): Record<string, unknown> => {
  const row: Record<string, unknown> = {};
  if (c.url !== undefined) row.url = c.url;
  if (c.description !== undefined) row.description = c.description;
  if (c.events !== undefined) row.events = c.events.join(',');
  if (c.secret !== undefined) row.secret = c.secret;
  if (c.previousSecret !== undefined) row.previous_secret = c.previousSecret;
  if (c.previousSecretUntil !== undefined) row.previous_secret_until = c.previousSecretUntil;
  if (c.enabled !== undefined) row.enabled = c.enabled;
  if (c.disabledReason !== undefined) row.disabled_reason = c.disabledReason;
  if (c.disabledAt !== undefined) row.disabled_at = c.disabledAt;
  if (c.failingSince !== undefined) row.failing_since = c.failingSince;
  return row;
};

/** Where an endpoint list or an event's recipients are looked up: one account's endpoints, or the instance's. */
const ofScope = (q: Knex.QueryBuilder, ownerId: string | null): Knex.QueryBuilder => (ownerId === null ? q.whereNull('owner_id') : q.where('owner_id', ownerId));

/** Webhook endpoints, the delivery outbox and the attempt log (see the create_webhooks migration). */
export function createWebhooksRepo(db: Knex, dialect: Dialect) {
  return {
    // --- endpoints -------------------------------------------------------------------------------------------------

    async insertEndpoint(e: NewWebhookEndpoint): Promise<void> {
      await db('webhook_endpoints').insert({
        id: e.id,
        owner_id: e.ownerId,
        url: e.url,
        description: e.description,
        events: e.events.join(','),
        secret: e.secret,
        enabled: true,
        created_at: e.createdAt,
        updated_at: e.createdAt,
      });
    },

    async findEndpoint(id: string): Promise<WebhookEndpoint | null> {
      const row = (await db('webhook_endpoints').where({ id }).first()) as EndpointRow | undefined;
      return row ? endpointFromRow(row) : null;
    },

    /** An account's endpoints (ownerId) or the instance's (null), oldest first. */
    async listEndpoints(ownerId: string | null): Promise<WebhookEndpoint[]> {
      const rows = (await ofScope(db('webhook_endpoints'), ownerId).orderBy([{ column: 'created_at' }, { column: 'id' }])) as EndpointRow[];
      return rows.map(endpointFromRow);
    },

    async countEndpoints(ownerId: string | null): Promise<number> {
      const row = (await ofScope(db('webhook_endpoints'), ownerId).count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** Changes an endpoint; false when it no longer exists. */
    async updateEndpoint(id: string, changes: EndpointChanges, now: Date): Promise<boolean> {
      return (await db('webhook_endpoints').where({ id }).update({ ...endpointChangesToRow(changes), updated_at: now })) > 0;
    },

    async deleteEndpoint(id: string): Promise<boolean> {
      return (await db('webhook_endpoints').where({ id }).delete()) > 0;
    },

    /** The enabled endpoints of a scope that subscribe to an event type: who an event is recorded for. */
    async subscribedEndpoints(ownerId: string | null, eventType: string): Promise<WebhookEndpoint[]> {
      const rows = (await ofScope(db('webhook_endpoints'), ownerId).andWhere('enabled', true)) as EndpointRow[];
      return rows.map(endpointFromRow).filter((e) => e.events.includes(eventType));
    },

    /** Switches off every endpoint of an account and ends their pending deliveries (deletion requested); returns how many were on. */
    async disableEndpointsOf(ownerId: string, reason: EndpointDisabledReason, now: Date): Promise<number> {
      const ids = ((await db('webhook_endpoints').where({ owner_id: ownerId, enabled: true }).select('id')) as Array<{ id: string }>).map((r) => r.id);
      if (ids.length === 0) return 0;
      // Endpoints first, then their deliveries: the dispatcher's record path locks in the same order (no deadlock).
      const switchedOff = await db('webhook_endpoints').whereIn('id', ids).andWhere('enabled', true).update({ enabled: false, disabled_reason: reason, disabled_at: now, updated_at: now });
      await db('webhook_deliveries').whereIn('endpoint_id', ids).andWhere('status', 'pending').update({ status: 'failed', next_attempt_at: null, locked_until: null, finished_at: now });
      return switchedOff;
    },

    /** Switches back on the account's endpoints that were off only because of the reason given (a cancelled deletion). */
    async enableEndpointsOf(ownerId: string, reason: EndpointDisabledReason, now: Date): Promise<number> {
      return db('webhook_endpoints')
        .where({ owner_id: ownerId, enabled: false, disabled_reason: reason })
        .update({ enabled: true, disabled_reason: null, disabled_at: null, failing_since: null, updated_at: now });
    },

    // --- the outbox -------------------------------------------------------------------------------------------------

    /** Records deliveries as due now (called in the transaction of the change that caused them). */
    async insertDeliveries(deliveries: readonly NewDelivery[]): Promise<void> {
      for (const batch of inBatches(deliveries, 100)) {
        await db('webhook_deliveries').insert(
          batch.map((d) => ({
            id: d.id,
            endpoint_id: d.endpointId,
            event_type: d.eventType,
            payload: d.payload,
            status: 'pending',
            attempts: 0,
            next_attempt_at: d.createdAt,
            locked_until: null,
            claim_token: null,
            last_response_code: null,
            created_at: d.createdAt,
            finished_at: null,
          })),
        );
      }
    },

    async findDelivery(id: string): Promise<WebhookDelivery | null> {
      const row = (await db('webhook_deliveries').where({ id }).first()) as DeliveryRow | undefined;
      return row ? deliveryFromRow(row) : null;
    },

    /**
     * Whether anything is due to be claimed: a plain read, so a poll of an empty outbox takes no write lock (SQLite
     * transactions take it at BEGIN).
     */
    async anyDue(now: Date): Promise<boolean> {
      const row = await db('webhook_deliveries as d')
        .join('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
        .where('d.status', 'pending')
        .andWhere('e.enabled', true)
        .andWhere('d.next_attempt_at', '<=', now)
        .andWhere((q) => q.whereNull('d.locked_until').orWhere('d.locked_until', '<=', now))
        .first('d.id');
      return row !== undefined;
    },

    /**
     * Claims up to `limit` due deliveries of enabled endpoints until `lockedUntil` under `token` (a random value per
     * claim: only its holder can record the attempt), so no other worker sends them meanwhile. At most `perEndpoint`
     * of one endpoint are in flight at once (those already claimed and not yet recorded count), so one endpoint's
     * backlog, or a receiver that never answers, cannot take every send slot. On PostgreSQL the rows are locked with
     * FOR UPDATE SKIP LOCKED, so replicas claiming at the same moment take disjoint sets (the per-endpoint count is
     * then per replica at worst); SQLite transactions take the write lock at BEGIN (BEGIN IMMEDIATE), so a
     * select-then-update there is already exclusive. Must run inside a transaction (repos.transaction).
     */
    async claimDue(now: Date, lockedUntil: Date, limit: number, token: string, perEndpoint = 2): Promise<ClaimedDelivery[]> {
      const unlocked = (q: Knex.QueryBuilder) => q.whereNull('d.locked_until').orWhere('d.locked_until', '<=', now);
      // Claims still running, per endpoint (counted once per endpoint, not per candidate row).
      const busy = db('webhook_deliveries').where('status', 'pending').andWhere('locked_until', '>', now).groupBy('endpoint_id').select('endpoint_id', db.raw('count(*) as n'));
      // Each endpoint's due deliveries in line: 1 is its next one.
      const ranked = db('webhook_deliveries as d')
        .join('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
        .where('d.status', 'pending')
        .andWhere('e.enabled', true)
        .andWhere('d.next_attempt_at', '<=', now)
        .andWhere(unlocked)
        .select('d.id', 'd.endpoint_id', db.raw('row_number() over (partition by d.endpoint_id order by d.next_attempt_at, d.id) as rn'));
      const eligible = db
        .from(ranked.as('r'))
        .leftJoin(busy.as('b'), 'b.endpoint_id', 'r.endpoint_id')
        .whereRaw('r.rn + coalesce(b.n, 0) <= ?', [perEndpoint])
        .select('r.id');
      const candidates = db('webhook_deliveries as d')
        .whereIn('d.id', eligible)
        .andWhere('d.status', 'pending')
        .andWhere(unlocked)
        .orderBy([{ column: 'd.next_attempt_at' }, { column: 'd.id' }])
        .limit(limit)
        .select('d.id');
      if (dialect === 'postgres') candidates.forUpdate('d').skipLocked();
      const ids = ((await candidates) as Array<{ id: string }>).map((r) => r.id);
      if (ids.length === 0) return [];
      await db('webhook_deliveries').whereIn('id', ids).update({ locked_until: lockedUntil, claim_token: token });
      const rows = (await db('webhook_deliveries').whereIn('id', ids)) as DeliveryRow[];
      const endpointIds = [...new Set(rows.map((r) => r.endpoint_id))];
      const endpoints = new Map(((await db('webhook_endpoints').whereIn('id', endpointIds)) as EndpointRow[]).map((r) => [r.id, endpointFromRow(r)]));
      return rows
        .map((r) => ({ ...deliveryFromRow(r), endpoint: endpoints.get(r.endpoint_id)! }))
        .sort((a, b) => a.nextAttemptAt!.getTime() - b.nextAttemptAt!.getTime() || a.id.localeCompare(b.id));
    },

    /**
     * The endpoint, locked for the rest of the transaction on PostgreSQL (FOR UPDATE). The dispatcher's record path
     * takes it before touching the delivery, in the order the service's disable and delete take them (endpoint,
     * then its deliveries), so the two never deadlock.
     */
    async lockEndpoint(id: string): Promise<WebhookEndpoint | null> {
      const q = db('webhook_endpoints').where({ id });
      // FOR NO KEY UPDATE is enough for the updates that follow, and unlike FOR UPDATE it does not block the foreign-key
      // checks of changes recording new deliveries for this endpoint meanwhile.
      if (dialect === 'postgres') q.forNoKeyUpdate();
      const row = (await q.first()) as EndpointRow | undefined;
      return row ? endpointFromRow(row) : null;
    },

    /**
     * Records an attempt and where its delivery stands now: delivered or failed for good (finishedAt set, no next
     * attempt), or pending again at nextAttemptAt. Releases the claim. With the claim's `token` (the dispatcher
     * always passes it) only the claim's holder records: false, and nothing written, when the delivery is gone or its
     * claim is no longer `token` (the lease ran out and another worker claimed it, or it was resent meanwhile).
     * Ending a delivery (failPendingOf, its endpoint switched off) keeps the token, so the attempt in flight is still
     * recorded; the holder then ends the delivery again (see the dispatcher). Without a token (fixtures in tests) the
     * attempt is recorded on the delivery, if it exists, whoever holds it.
     */
    async recordAttempt(
      attempt: NewAttempt,
      outcome: { status: DeliveryStatus; attempts: number; nextAttemptAt: Date | null; finishedAt: Date | null },
      token?: string,
    ): Promise<boolean> {
      const target = db('webhook_deliveries').where({ id: attempt.deliveryId });
      if (token !== undefined) target.andWhere({ claim_token: token });
      const held = await target.update({
        status: outcome.status,
        attempts: outcome.attempts,
        next_attempt_at: outcome.nextAttemptAt,
        finished_at: outcome.finishedAt,
        locked_until: null,
        claim_token: null,
        last_response_code: attempt.responseCode,
      });
      if (held === 0) return false;
      await db('webhook_attempts').insert({
        delivery_id: attempt.deliveryId,
        endpoint_id: attempt.endpointId,
        attempted_at: attempt.attemptedAt,
        outcome: attempt.outcome,
        response_code: attempt.responseCode,
        duration_ms: attempt.durationMs,
        response_excerpt: attempt.responseExcerpt,
        error: attempt.error,
      });
      return true;
    },

    /**
     * Ends every pending delivery of an endpoint (it was switched off or is gone); the owner can resend each. A claim
     * in flight keeps its token: its attempt is still recorded (and the delivery ended again).
     */
    async failPendingOf(endpointId: string, now: Date): Promise<number> {
      return db('webhook_deliveries')
        .where({ endpoint_id: endpointId, status: 'pending' })
        .update({ status: 'failed', next_attempt_at: null, locked_until: null, finished_at: now });
    },

    /**
     * Switches an endpoint off for a reason the dispatcher found ('gone', 'failing'); true only for the call that
     * switched it off (two sends failing at once tell the owner once).
     */
    async disableEndpoint(id: string, reason: EndpointDisabledReason, now: Date): Promise<boolean> {
      return (await db('webhook_endpoints').where({ id, enabled: true }).update({ enabled: false, disabled_reason: reason, disabled_at: now, updated_at: now })) > 0;
    },

    /** Notes the first failed attempt since the last delivered one (a later failure leaves the date as it is). */
    async markFailing(id: string, now: Date): Promise<void> {
      await db('webhook_endpoints').where({ id }).whereNull('failing_since').update({ failing_since: now });
    },

    /** A delivery went through: the endpoint is no longer failing. */
    async clearFailing(id: string): Promise<void> {
      await db('webhook_endpoints').where({ id }).whereNotNull('failing_since').update({ failing_since: null });
    },

    /**
     * Who is told when an endpoint is switched off: its account's holder, or for an instance endpoint (ownerId null)
     * every admin whose account is active.
     */
    async contactsFor(ownerId: string | null): Promise<Array<{ email: string; username: string }>> {
      const q = db('users').select('email', 'username');
      if (ownerId !== null) q.where({ id: ownerId });
      else q.where({ role: 'admin' }).whereNull('deletion_requested_at').whereNull('suspended_at').orderBy('id');
      return ((await q) as Array<{ email: string; username: string }>).map((r) => ({ email: String(r.email), username: String(r.username) }));
    },

    /** Sends a delivery again from the start of the retry schedule (the owner's Resend); false when it is gone. */
    async resend(deliveryId: string, now: Date): Promise<boolean> {
      return (await db('webhook_deliveries').where({ id: deliveryId }).update({ status: 'pending', attempts: 0, next_attempt_at: now, locked_until: null, claim_token: null, finished_at: null })) > 0;
    },

    /** An endpoint's deliveries, newest first; `before` is the (createdAt, id) of the last row of the page before. */
    async listDeliveries(endpointId: string, page: { before: { createdAt: Date; id: string } | null; limit: number }): Promise<WebhookDelivery[]> {
      const q = db('webhook_deliveries').where({ endpoint_id: endpointId });
      if (page.before) q.andWhereRaw('(created_at, id) < (?, ?)', [page.before.createdAt, page.before.id]);
      const rows = (await q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(page.limit)) as DeliveryRow[];
      return rows.map(deliveryFromRow);
    },

    /** A delivery's attempts, oldest first. */
    async listAttempts(deliveryId: string): Promise<WebhookAttempt[]> {
      const rows = (await db('webhook_attempts').where({ delivery_id: deliveryId }).orderBy('id')) as AttemptRow[];
      return rows.map(attemptFromRow);
    },

    /** The latest attempts of many deliveries at once (a page of the delivery log costs O(1) queries). */
    async attemptsOf(deliveryIds: readonly string[]): Promise<WebhookAttempt[]> {
      const out: WebhookAttempt[] = [];
      for (const batch of inBatches(deliveryIds)) {
        const rows = (await db('webhook_attempts').whereIn('delivery_id', batch).orderBy('id')) as AttemptRow[];
        out.push(...rows.map(attemptFromRow));
      }
      return out;
    },

    // --- retention --------------------------------------------------------------------------------------------------

    /**
     * Deletes up to `batch` attempts made before `before`, and up to `batch` finished deliveries that ended before it
     * (their remaining attempts go with them). Returns how many rows of each went, so the job can loop until none.
     * First ends the pending deliveries of switched-off endpoints (an event recorded while its endpoint was being
     * switched off): nothing would ever send them, so they end as failed when the endpoint went off (or when they
     * were recorded, if later) and their payloads go with the rest of the log.
     */
    async pruneBefore(before: Date, batch: number): Promise<{ attempts: number; deliveries: number }> {
      const offSince = db('webhook_endpoints as e').whereRaw('e.id = webhook_deliveries.endpoint_id').select('e.disabled_at');
      await db('webhook_deliveries')
        .where('status', 'pending')
        .whereIn('endpoint_id', db('webhook_endpoints').where('enabled', false).select('id'))
        .update({
          status: 'failed',
          next_attempt_at: null,
          locked_until: null,
          finished_at: db.raw('coalesce(case when created_at > (?) then created_at else (?) end, created_at)', [offSince, offSince]),
        });
      const attemptIds = ((await db('webhook_attempts').where('attempted_at', '<', before).orderBy('id').limit(batch).select('id')) as Array<{ id: number }>).map((r) => r.id);
      const attempts = attemptIds.length ? await db('webhook_attempts').whereIn('id', attemptIds).delete() : 0;
      const deliveryIds = ((await db('webhook_deliveries').whereNotNull('finished_at').andWhere('finished_at', '<', before).limit(batch).select('id')) as Array<{ id: string }>).map((r) => r.id);
      const deliveries = deliveryIds.length ? await db('webhook_deliveries').whereIn('id', deliveryIds).delete() : 0;
      return { attempts, deliveries };
    },
  };
}

export type WebhooksRepo = ReturnType<typeof createWebhooksRepo>;
