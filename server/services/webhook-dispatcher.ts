import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Repos } from '../db/repos.js';
import type { AttemptOutcome, ClaimedDelivery, EndpointDisabledReason } from '../db/webhooks.repo.js';
import { databaseOutageLog } from '../db/outage-log.js';
import { createBurstLog, plural, type BurstLog } from '../lib/burst-log.js';
import type { Metrics } from '../metrics/types.js';
import { OutboundFailed, OutboundRefused, type Outbound } from '../outbound/outbound.js';
import { emails } from './emails.js';
import type { Mailer } from './mailer.service.js';
import { signedHeaders, signingSecrets } from './webhook-signing.js';

/**
 * Sends what the outbox holds (webhook_deliveries): claims due deliveries in a short transaction with a lease and a
 * claim token (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite, so each goes out once across
 * replicas and workers), commits, sends them through the guarded outbound client, then records each attempt and
 * where the delivery stands. Only as many are claimed as there are free send slots, and a slot is refilled as soon
 * as its send is recorded: a claimed delivery is sent at once, well inside its lease, never queued behind others.
 * At most two of one endpoint are in flight at once, so one endpoint's backlog (or a receiver that never answers)
 * leaves the other slots to everyone else. A sender that outlived its lease anyway records nothing (the claim token
 * changed). Every process runs one; the claims keep them apart. No transaction is open while a request is in flight.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delays before attempts 2, 3, … 9 (about 2.7 days in all). */
export const RETRY_DELAYS_MS: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 24 * HOUR, 24 * HOUR];
/** The first attempt and one per delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
/** A Retry-After further out than this is cut to it. */
export const MAX_RETRY_AFTER_MS = 24 * HOUR;
export const SEND_TIMEOUTS = { connectTimeoutMs: 5 * SECOND, totalTimeoutMs: 15 * SECOND } as const;
/** A claim lasts this long: well past the total send timeout, so a live sender never loses its claim. */
export const LEASE_MS = 60 * SECOND;
/** Deliveries of one endpoint in flight at once (per process; per replica at worst). */
export const PER_ENDPOINT_IN_FLIGHT = 2;
/** How much of the receiver's answer the log keeps. */
export const EXCERPT_BYTES = 1024;
export const USER_AGENT = 'Pixbin-Webhooks/1';

export type WebhookDispatcherDeps = {
  repos: Repos;
  outbound: Outbound;
  clock: () => Date;
  logger: Logger;
  metrics: Metrics;
  mailer: Mailer;
  publicUrl: string;
  /** How often to look for due deliveries (ms); nudge() looks at once. Default 1000. */
  pollMs?: number;
  /** Deliveries runOnce() claims at most (a few at a time, as send slots free up). Default 20. */
  batch?: number;
  /** Sends in flight at once; never more are claimed than there are free slots. Default 4. */
  concurrency?: number;
  /** Tests only: shorter timeouts than SEND_TIMEOUTS. */
  timeouts?: { connectTimeoutMs: number; totalTimeoutMs: number };
};

export type WebhookDispatcher = {
  /** Starts the poll loop (idempotent). */
  start(): void;
  /** Stops polling and resolves once the sends in flight are recorded. */
  stop(): Promise<void>;
  /** Look now (an event was just recorded), without waiting for the next poll. */
  nudge(): void;
  /**
   * Claims and sends what is due now, up to `batch` deliveries, refilling each send slot as it frees; resolves with
   * how many deliveries were claimed, once their attempts are recorded.
   */
  runOnce(): Promise<number>;
};

/** Why the dispatcher itself switches an endpoint off. */
type DispatcherReason = Extract<EndpointDisabledReason, 'gone' | 'failing'>;

type SendResult = { outcome: AttemptOutcome; responseCode: number | null; excerpt: string | null; error: string | null; retryAfterMs: number | null };

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: Date): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+$/.test(raw)) return Number(raw) * SECOND;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

/** When the next attempt is due after `attempts` attempts failed: the schedule, or later if Retry-After says so. */
export function nextAttemptAt(attempts: number, finishedAt: Date, retryAfter: number | null): Date | null {
  if (attempts >= MAX_ATTEMPTS) return null;
  const scheduled = RETRY_DELAYS_MS[attempts - 1]!;
  const wait = retryAfter === null ? scheduled : Math.max(scheduled, Math.min(retryAfter, MAX_RETRY_AFTER_MS));
  return new Date(finishedAt.getTime() + wait);
}

/** UTF-8 text of at most the first EXCERPT_BYTES bytes; NUL (which PostgreSQL text refuses) becomes U+FFFD. */
function excerptOf(chunks: Buffer[]): string {
  const bytes = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES);
  // stream: a character cut at the 1 KB mark is left out rather than shown as a replacement character.
  return new TextDecoder('utf-8').decode(bytes, { stream: true }).replaceAll('\u0000', '\uFFFD');
}

/** A short message for the delivery log: what happened, never the address a name resolved to. */
const describe = (err: unknown): string => {
  if (err instanceof OutboundRefused) return err.message;
  if (err instanceof OutboundFailed) {
    const code = /: ([A-Z][A-Z_]+)$/.exec(err.detail)?.[1];
    return code ? `${err.message} (${code})` : err.message;
  }
  return 'The request failed.';
};

export function createWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const pollMs = deps.pollMs ?? 1000;
  const batch = deps.batch ?? 20;
  const concurrency = Math.max(1, deps.concurrency ?? 4);
  const timeouts = deps.timeouts ?? SEND_TIMEOUTS;
  const outage = databaseOutageLog(deps.logger);
  // Anything else that fails a pass (or one delivery's bookkeeping) the same way again and again: logged once.
  const trouble: BurstLog = createBurstLog(deps.logger, {
    classify: (err) => (err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.name) : 'error'),
    fields: (over) => ({ webhooks: over ? 'working' : 'failing' }),
    firstFields: (err) => ({ err }),
    first: 'webhook dispatcher failed (further failures are counted, not logged)',
    still: (f) => `webhook dispatcher still failing after ${f.seconds} s: ${plural(f.failedBackground, 'failure', 'failures')}`,
    over: (f) => `webhook dispatcher working again after ${f.seconds} s, ${plural(f.failedBackground, 'failure', 'failures')}`,
    quiet: (f) => `no webhook dispatcher failures for a while: ${plural(f.failedBackground, 'failure', 'failures')} in ${f.seconds} s`,
  });
  const report = (err: unknown) => {
    if (!outage.failed(err, 'background')) trouble.failed(err, 'background');
  };

  async function send(d: ClaimedDelivery): Promise<SendResult & { at: Date; durationMs: number }> {
    const at = deps.clock();
    const started = performance.now();
    const headers = {
      ...signedHeaders(signingSecrets(d.endpoint, at), d.id, at, d.payload),
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
    };
    let result: SendResult;
    try {
      const res = await deps.outbound.fetchStream(d.endpoint.url, {
        method: 'POST',
        headers,
        body: d.payload,
        maxRedirects: 0,
        connectTimeoutMs: timeouts.connectTimeoutMs,
        totalTimeoutMs: timeouts.totalTimeoutMs,
        // The answer is read up to EXCERPT_BYTES and dropped: its declared size must not turn a 200 into a refusal.
        maxBytes: Number.MAX_SAFE_INTEGER,
      });
      const chunks: Buffer[] = [];
      let read = 0;
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          chunks.push(chunk);
          read += chunk.length;
          if (read >= EXCERPT_BYTES) break;
        }
      } catch {
        // The status decides; a body cut short (timeout, reset) keeps what arrived.
      } finally {
        res.body.destroy();
      }
      const status = res.status;
      const outcome: AttemptOutcome = status >= 200 && status < 300 ? 'delivered' : status === 410 ? 'gone' : 'failed';
      result = { outcome, responseCode: status, excerpt: chunks.length ? excerptOf(chunks) : null, error: null, retryAfterMs: outcome === 'failed' ? retryAfterMs(res.headers['retry-after'], deps.clock()) : null };
    } catch (err) {
      if (err instanceof OutboundRefused && err.reason === 'redirect') {
        result = { outcome: 'failed', responseCode: err.status ?? null, excerpt: null, error: 'Redirects are not followed: give the final URL.', retryAfterMs: null };
      } else if (err instanceof OutboundRefused && err.reason === 'timeout') {
        result = { outcome: 'timeout', responseCode: null, excerpt: null, error: describe(err), retryAfterMs: null };
      } else if (err instanceof OutboundRefused && (err.reason === 'address' || err.reason === 'scheme')) {
        result = { outcome: 'refused', responseCode: null, excerpt: null, error: describe(err), retryAfterMs: null };
      } else {
        result = { outcome: 'error', responseCode: null, excerpt: null, error: describe(err), retryAfterMs: null };
      }
    }
    return { ...result, at, durationMs: Math.max(0, Math.round(performance.now() - started)) };
  }

  /** Tells whoever looks after the endpoint that it was switched off; a mail failure is logged, never thrown. */
  async function tellOwner(d: ClaimedDelivery, reason: DispatcherReason, attempts: number): Promise<void> {
    try {
      const contacts = await deps.repos.webhooks.contactsFor(d.endpoint.ownerId);
      const page = d.endpoint.ownerId === null ? `${deps.publicUrl}/admin/webhooks/${d.endpoint.id}` : `${deps.publicUrl}/account/webhooks/${d.endpoint.id}`;
      let host = 'an unknown host';
      try {
        host = new URL(d.endpoint.url).host;
      } catch {
        // stored URLs were checked when saved; keep the generic name otherwise
      }
      if (contacts.length === 0) deps.logger.warn({ endpoint: d.endpoint.id, reason }, 'webhook endpoint switched off, and nobody to tell by email');
      for (const c of contacts) await deps.mailer.send(emails.webhookDisabled(c.email, c.username, host, reason, attempts, page));
    } catch (err) {
      deps.logger.error({ err, endpoint: d.endpoint.id }, 'could not email that a webhook endpoint was switched off');
    }
  }

  let lostClaims = 0;
  /** A sender that outlived its lease: another worker has the delivery now, so this attempt is not recorded. */
  function lostClaim(d: ClaimedDelivery): void {
    lostClaims += 1;
    const fields = { delivery: d.id, endpoint: d.endpointId, lostClaims };
    // The first is worth a look (a send that took longer than the lease); the rest are counted.
    if (lostClaims === 1) deps.logger.warn(fields, 'webhook delivery claim lost before its attempt was recorded (its lease ran out); not recorded (further ones are logged at debug)');
    else deps.logger.debug(fields, 'webhook delivery claim lost; attempt not recorded');
  }

  async function deliver(d: ClaimedDelivery, token: string): Promise<void> {
    const sent = await send(d);
    const attempts = d.attempts + 1;
    const finished = deps.clock();
    const next = sent.outcome === 'delivered' || sent.outcome === 'gone' ? null : nextAttemptAt(attempts, finished, sent.retryAfterMs);
    const status = sent.outcome === 'delivered' ? 'delivered' : next === null ? 'failed' : 'pending';
    const disable: DispatcherReason | null = sent.outcome === 'gone' ? 'gone' : status === 'failed' ? 'failing' : null;
    const recorded = await deps.repos.transaction(async (tx): Promise<'recorded' | 'disabled' | 'lost' | 'deleted'> => {
      // The endpoint first, then its deliveries: the order the service's disable and delete lock them in.
      const endpoint = await tx.webhooks.lockEndpoint(d.endpointId);
      // Deleted meanwhile (with its endpoint or account): nothing left to record.
      if (!endpoint) return 'deleted';
      const held = await tx.webhooks.recordAttempt(
        { deliveryId: d.id, endpointId: d.endpointId, attemptedAt: sent.at, outcome: sent.outcome, responseCode: sent.responseCode, durationMs: sent.durationMs, responseExcerpt: sent.excerpt, error: sent.error },
        { status, attempts, nextAttemptAt: next, finishedAt: status === 'pending' ? null : finished },
        token,
      );
      // Not ours any more: another worker claimed it after the lease, or it was resent or deleted meanwhile.
      if (!held) return (await tx.webhooks.findDelivery(d.id)) ? 'lost' : 'deleted';
      if (sent.outcome === 'delivered') {
        await tx.webhooks.clearFailing(d.endpointId);
        return 'recorded';
      }
      await tx.webhooks.markFailing(d.endpointId, sent.at);
      if (!disable) {
        // Switched off while this attempt was in flight (by its owner, or by another delivery's 410): it waits no more.
        if (!endpoint.enabled) await tx.webhooks.failPendingOf(d.endpointId, finished);
        return 'recorded';
      }
      const switchedOff = await tx.webhooks.disableEndpoint(d.endpointId, disable, finished);
      if (switchedOff) await tx.webhooks.failPendingOf(d.endpointId, finished);
      return switchedOff ? 'disabled' : 'recorded';
    });
    if (recorded === 'lost') lostClaim(d);
    if (recorded === 'lost' || recorded === 'deleted') return;
    deps.metrics.webhookDelivery(status === 'delivered' ? 'delivered' : status === 'pending' ? 'retrying' : 'failed');
    if (recorded === 'disabled') {
      deps.logger.warn({ endpoint: d.endpointId, reason: disable, attempts }, 'webhook endpoint switched off');
      await tellOwner(d, disable!, attempts);
    }
  }

  // --- send slots -------------------------------------------------------------------------------------------------

  const inFlight = new Set<Promise<void>>();
  /** Listeners told each time a send slot frees up (runOnce and the poll loop refill on it). */
  const freed = new Set<() => void>();
  const freeSlots = () => concurrency - inFlight.size;

  /**
   * Claims up to `max` due deliveries (never more than the free slots) and starts sending each at once; returns how
   * many. A cheap read first, so polling an empty outbox takes no write lock.
   */
  async function claimAndSend(max: number): Promise<number> {
    const room = Math.min(max, freeSlots());
    if (room <= 0) return 0;
    const now = deps.clock();
    if (!(await deps.repos.webhooks.anyDue(now))) return 0;
    const token = randomBytes(16).toString('base64url');
    // Slots may have filled while the read ran (another caller in this process): claim only what still fits.
    const fits = Math.min(room, freeSlots());
    if (fits <= 0) return 0;
    const claimed = await deps.repos.transaction((tx) => tx.webhooks.claimDue(now, new Date(now.getTime() + LEASE_MS), fits, token, PER_ENDPOINT_IN_FLIGHT));
    for (const d of claimed) {
      const job: Promise<void> = deliver(d, token)
        .catch(report)
        .finally(() => {
          inFlight.delete(job);
          for (const listener of [...freed]) listener();
        });
      inFlight.add(job);
    }
    return claimed.length;
  }

  /** Resolves the next time a send slot frees up (at once when none is in flight). */
  const slotFreed = (): Promise<void> =>
    inFlight.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const listener = () => {
            freed.delete(listener);
            resolve();
          };
          freed.add(listener);
        });

  async function runOnce(): Promise<number> {
    let claimed = 0;
    const mine = new Set<Promise<void>>();
    for (;;) {
      const before = new Set(inFlight);
      const got = claimed < batch ? await claimAndSend(batch - claimed) : 0;
      claimed += got;
      for (const job of inFlight) if (!before.has(job)) mine.add(job);
      for (const job of [...mine]) if (!inFlight.has(job)) mine.delete(job);
      if (got > 0 && freeSlots() > 0) continue; // more may fit (the claim took what it could)
      if (mine.size === 0) break;
      // Wait for one of this pass's sends (or any slot) to free up, then look again: a freed slot is refilled at once.
      await Promise.race([...mine, slotFreed()].map((p) => p.catch(() => undefined)));
    }
    return claimed;
  }

  let timer: NodeJS.Timeout | null = null;
  let started = false;
  let pass: Promise<void> | null = null;
  /** Set by a poll, a nudge or a freed slot: look for due deliveries again. */
  let again = false;
  let wake: (() => void) | null = null;
  const rouse = () => {
    again = true;
    wake?.();
  };

  const schedule = (ms: number) => {
    if (!started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  };

  /**
   * One pass at a time: it claims into free slots whenever it is roused (a poll, a nudge, a send finishing) and
   * ends once nothing is in flight and nothing was due. The poll timer keeps running during a pass.
   */
  function tick(): void {
    timer = null;
    if (!started) return;
    schedule(pollMs);
    if (pass) {
      rouse();
      return;
    }
    again = true;
    pass = (async () => {
      freed.add(rouse);
      try {
        while (started) {
          if (again && freeSlots() > 0) {
            again = false;
            const got = await claimAndSend(Number.MAX_SAFE_INTEGER);
            if (got > 0) again = true; // slots left, or more due: look again at once
            continue;
          }
          if (inFlight.size === 0 && !again) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (again && freeSlots() > 0) resolve();
          });
          wake = null;
        }
      } catch (err) {
        report(err);
      } finally {
        freed.delete(rouse);
        wake = null;
      }
    })().finally(() => {
      pass = null;
      // A nudge that came after the loop ended but before this point only set `again`: act on it now, not at the next poll.
      if (again && started) schedule(0);
    });
  }

  return {
    start() {
      if (started) return;
      started = true;
      schedule(0);
    },
    async stop() {
      started = false;
      if (timer) clearTimeout(timer);
      timer = null;
      wake?.();
      await pass;
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    nudge() {
      if (!started) return;
      if (pass) rouse();
      else schedule(0);
    },
    runOnce,
  };
}
