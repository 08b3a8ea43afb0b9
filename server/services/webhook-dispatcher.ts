import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Repos } from '../db/repos.js';
import type { AttemptOutcome, ClaimedDelivery, EndpointDisabledReason } from '../db/webhooks.repo.js';
import { databaseOutageLog } from '../db/outage-log.js';
import { createBurstLog, plural, type BurstLog } from '../lib/burst-log.js';
import { Semaphore } from '../lib/semaphore.js';
import type { Metrics } from '../metrics/types.js';
import { OutboundFailed, OutboundRefused, type Outbound } from '../outbound/outbound.js';
import { emails } from './emails.js';
import type { Mailer } from './mailer.service.js';
import { signedHeaders, signingSecrets } from './webhook-signing.js';

/**
 * Sends what the outbox holds (webhook_deliveries): claims due deliveries in a short transaction with a lease
 * (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite, so each goes out once across replicas and
 * workers), commits, sends them a few at a time through the guarded outbound client, then records each attempt
 * and where the delivery stands. Every process runs one; the claims keep them apart. No transaction is open while
 * a request is in flight.
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
  /** Deliveries claimed per pass. Default 20. */
  batch?: number;
  /** Sends in flight at once. Default 4. */
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
  /** Claims and sends what is due now, once; resolves with how many deliveries were claimed. */
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
  const sending = new Semaphore(deps.concurrency ?? 4);
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

  async function deliver(d: ClaimedDelivery): Promise<void> {
    const sent = await send(d);
    const attempts = d.attempts + 1;
    const finished = deps.clock();
    const next = sent.outcome === 'delivered' || sent.outcome === 'gone' ? null : nextAttemptAt(attempts, finished, sent.retryAfterMs);
    const status = sent.outcome === 'delivered' ? 'delivered' : next === null ? 'failed' : 'pending';
    const disable: DispatcherReason | null = sent.outcome === 'gone' ? 'gone' : status === 'failed' ? 'failing' : null;
    const disabled = await deps.repos.transaction(async (tx) => {
      // Deleted meanwhile (with its endpoint or account): nothing left to record.
      if (!(await tx.webhooks.findDelivery(d.id))) return false;
      await tx.webhooks.recordAttempt(
        { deliveryId: d.id, endpointId: d.endpointId, attemptedAt: sent.at, outcome: sent.outcome, responseCode: sent.responseCode, durationMs: sent.durationMs, responseExcerpt: sent.excerpt, error: sent.error },
        { status, attempts, nextAttemptAt: next, finishedAt: status === 'pending' ? null : finished },
      );
      if (sent.outcome === 'delivered') {
        await tx.webhooks.clearFailing(d.endpointId);
        return false;
      }
      await tx.webhooks.markFailing(d.endpointId, sent.at);
      if (!disable) {
        // Switched off while this attempt was in flight (by its owner, or by another delivery's 410): it waits no more.
        if (!(await tx.webhooks.findEndpoint(d.endpointId))?.enabled) await tx.webhooks.failPendingOf(d.endpointId, finished);
        return false;
      }
      const switchedOff = await tx.webhooks.disableEndpoint(d.endpointId, disable, finished);
      if (switchedOff) await tx.webhooks.failPendingOf(d.endpointId, finished);
      return switchedOff;
    });
    deps.metrics.webhookDelivery(status === 'delivered' ? 'delivered' : status === 'pending' ? 'retrying' : 'failed');
    if (disabled) {
      deps.logger.warn({ endpoint: d.endpointId, reason: disable, attempts }, 'webhook endpoint switched off');
      await tellOwner(d, disable!, attempts);
    }
  }

  const inFlight = new Set<Promise<void>>();

  async function runOnce(): Promise<number> {
    const now = deps.clock();
    const claimed = await deps.repos.transaction((tx) => tx.webhooks.claimDue(now, new Date(now.getTime() + LEASE_MS), batch));
    await Promise.all(
      claimed.map((d) => {
        const job = sending.run(() => deliver(d)).catch(report);
        inFlight.add(job);
        return job.finally(() => inFlight.delete(job));
      }),
    );
    return claimed.length;
  }

  let timer: NodeJS.Timeout | null = null;
  let started = false;
  let pass: Promise<void> | null = null;
  let again = false;

  const schedule = (ms: number) => {
    if (!started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  };

  // One pass at a time: a nudge during a pass asks for another one right after it.
  function tick(): void {
    timer = null;
    if (!started) return;
    if (pass) {
      again = true;
      return;
    }
    pass = (async () => {
      try {
        do {
          again = false;
          // A full batch means more may be due: keep going without waiting for the next poll.
          while (started && (await runOnce()) >= batch);
        } while (started && again);
      } catch (err) {
        report(err);
      }
    })().finally(() => {
      pass = null;
      schedule(pollMs);
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
      await pass;
      await Promise.all([...inFlight]);
    },
    nudge() {
      if (!started) return;
      if (pass) again = true;
      else schedule(0);
    },
    runOnce,
  };
}
