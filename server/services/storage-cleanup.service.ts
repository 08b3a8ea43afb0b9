import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Repos } from '../db/repos.js';
import type { CleanupReason } from '../db/storage-cleanup.repo.js';
import { StorageUnavailable, type PutOptions, type StorageDriver } from '../storage/storage.js';

/**
 * Compensation that cannot fail silently. When a step after a write fails, the objects already written are deleted
 * again; when that delete fails, or a write's outcome is unknown (the store timed out or the connection broke after
 * the request went out, so a store that wakes up may still store it), the key is recorded in storage_cleanup and the
 * storage-cleanup job (every minute) deletes it, until the store confirms it gone. The orphan sweep stays the last
 * resort, for what could not even be recorded (the database was down too).
 *
 * A process can also die (kill -9, a crash, the machine) between an upload's writes and the insert of its row, and
 * then no catch runs. So an upload reserves its keys before the first write ('in_flight', due after
 * UPLOAD_RESERVATION_MS, pushed back by a heartbeat while the upload lives) and releases them in the transaction
 * that inserts its row. A reservation that comes due belongs to an upload that died: the job claims it and deletes
 * the objects. An upload that missed its heartbeats but still lives finds its reservation claimed when it tries to
 * insert, and fails instead of recording a row whose bytes are being deleted (claim and release are one
 * conditional statement each, so only one of them wins).
 */

const LIVE_KEY = /^(images|thumbs|display)\/[0-9A-Za-z]{2}\/([0-9A-Za-z]{12})\.\w+$/;

/** The image a live key belongs to (checked before deleting), or null for any other key. */
export function imageIdOfKey(key: string): string | null {
  return LIVE_KEY.exec(key)?.[2] ?? null;
}

/**
 * A write of unknown outcome is confirmed gone twice, at least this long apart: a store that has just woken up may
 * still be finishing requests it took in before it froze, and one of them may store the object after our delete.
 */
export const LATE_WRITE_SETTLE_MS = 15_000;
/** Backoff for a key the store refuses to delete (not for an unavailable store: that is retried on every run). */
const FIRST_BACKOFF_MS = 60_000;
/**
 * How long an upload's reservation lasts without a heartbeat. A live upload extends it every
 * UPLOAD_RESERVATION_REFRESH_MS from its first write to its insert, however long its writes take (an S3 multipart
 * upload may go on as long as parts keep being acknowledged); a dead process stops extending it. So what a process
 * killed mid-upload stored is deleted within this grace plus one run of the minutely job (about 3 minutes). The
 * margin (four missed heartbeats) covers a busy event loop and the difference between this process's clock and
 * the database's, which the job goes by; an upload that still misses it fails (503) rather than keep bytes that are
 * being deleted.
 */
export const UPLOAD_RESERVATION_MS = 2 * 60_000;
export const UPLOAD_RESERVATION_REFRESH_MS = 30_000;
const MAX_BACKOFF_MS = 6 * 60 * 60_000;
const BATCH = 200;

export type CleanupDeps = { repos: Repos; logger: Logger; clock: () => Date };

/**
 * Records keys for the cleanup job. Never throws: if even the database refuses, the keys are logged at error level
 * (the orphan sweep removes them after its grace period).
 */
export async function recordForCleanup(deps: CleanupDeps, entries: ReadonlyArray<{ key: string; reason: Exclude<CleanupReason, 'in_flight'> }>, cause?: unknown): Promise<void> {
  if (entries.length === 0) return;
  try {
    await deps.repos.storageCleanup.record(
      entries.map((e) => ({ ...e, imageId: imageIdOfKey(e.key) })),
      deps.clock(),
    );
  } catch (err) {
    deps.logger.error({ err, cause, keys: entries.map((e) => e.key) }, 'storage objects to delete could not be recorded; the orphan sweep will remove them');
  }
}

/**
 * The writes of one operation (an upload's variants), so that a failure later on can undo exactly them:
 * `reserve` the keys before the first write, `put` as the driver's, `release` the reservation in the transaction
 * that records the row, and `undo(cause)` in the operation's catch.
 */
export function trackWrites(storage: StorageDriver, options: { refreshEveryMs?: number } = {}) {
  const written: string[] = [];
  const unknown: string[] = [];
  let reserved: string[] = [];
  let heartbeat: NodeJS.Timeout | null = null;
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
  };
  return {
    /**
     * Records the keys as in flight, due for deletion after UPLOAD_RESERVATION_MS and extended every
     * UPLOAD_RESERVATION_REFRESH_MS until `release` or `undo`, so that if this process dies before the row is
     * inserted the cleanup job deletes what it stored. Throws if the database refuses (then nothing must be
     * written: the row could not be inserted either).
     */
    async reserve(deps: CleanupDeps, keys: readonly string[]): Promise<void> {
      const now = deps.clock();
      await deps.repos.storageCleanup.reserve(
        keys.map((key) => ({ key, imageId: imageIdOfKey(key) })),
        now,
        new Date(now.getTime() + UPLOAD_RESERVATION_MS),
      );
      reserved = [...keys];
      let extending = false;
      heartbeat = setInterval(() => {
        if (extending) return;
        extending = true;
        deps.repos.storageCleanup
          .extend(reserved, new Date(deps.clock().getTime() + UPLOAD_RESERVATION_MS))
          // A database that does not answer now will not take the insert either; the reservation stays as it was.
          .catch((err: unknown) => deps.logger.debug({ err }, 'an upload’s reservation could not be extended'))
          .finally(() => (extending = false));
      }, options.refreshEveryMs ?? UPLOAD_RESERVATION_REFRESH_MS);
      heartbeat.unref();
    },

    async put(key: string, body: Readable, options?: PutOptions): Promise<{ size: number }> {
      try {
        const result = await storage.put(key, body, options);
        written.push(key);
        return result;
      } catch (err) {
        // Refused (a 4xx) or cut short on our side, nothing was stored; unavailable, it may still be.
        if (err instanceof StorageUnavailable) unknown.push(key);
        throw err;
      }
    },

    /**
     * In the transaction that records the row: the keys are the row's now. Throws ReservationLost if the cleanup
     * job claimed any of them (this upload outlived its grace, and its objects may be deleted already): the
     * transaction rolls back and the upload fails.
     */
    async release(tx: Pick<Repos, 'storageCleanup'>): Promise<void> {
      stopHeartbeat();
      if (reserved.length === 0) return;
      const released = await tx.storageCleanup.release(reserved);
      if (released !== reserved.length) throw new ReservationLost(reserved.length - released);
    },

    /**
     * Deletes what was written. When the store itself failed (cause is StorageUnavailable) it is not asked again
     * now: that would hold the client's answer for another timeout. Those keys, the writes of unknown outcome and
     * any delete that fails are recorded for the cleanup job instead; the reservation of every other key is released.
     */
    async undo(deps: CleanupDeps, cause: unknown): Promise<void> {
      stopHeartbeat();
      const leftOver: Array<{ key: string; reason: Exclude<CleanupReason, 'in_flight'> }> = unknown.map((key) => ({ key, reason: 'write_unknown' }));
      if (cause instanceof StorageUnavailable) {
        leftOver.push(...written.map((key) => ({ key, reason: 'undo' as const })));
      } else {
        const results = await Promise.allSettled(written.map((key) => storage.delete(key)));
        results.forEach((result, i) => {
          if (result.status === 'rejected') leftOver.push({ key: written[i]!, reason: 'undo' });
        });
      }
      await recordForCleanup(deps, leftOver, cause);
      const done = reserved.filter((key) => !leftOver.some((e) => e.key === key));
      try {
        await deps.repos.storageCleanup.release(done);
      } catch (err) {
        // Harmless: the job deletes these keys (already gone) when the reservation comes due.
        deps.logger.warn({ err, keys: done }, 'an upload’s reservation could not be released; the storage-cleanup job removes it when it comes due');
      }
    },
  };
}

/** The cleanup job claimed an upload's reservation before the upload could insert its row (see UPLOAD_RESERVATION_MS). */
export class ReservationLost extends Error {
  override name = 'ReservationLost';
  constructor(readonly keys: number) {
    super(`the storage-cleanup job claimed ${keys} of this upload's keys before its row was inserted`);
  }
}

export type CleanupRun = {
  /** Keys the store confirmed gone for good (their records are removed). */
  deleted: number;
  /** Writes of unknown outcome deleted once, to be confirmed again after LATE_WRITE_SETTLE_MS. */
  awaitingConfirmation: number;
  /** Keys a row references after all: left in the store, records removed. */
  referenced: number;
  /** Reservations of uploads that died between storing and recording (claimed this run, then deleted as undos). */
  abandoned: number;
  /** Deletes that failed this run. */
  failed: number;
  storeUnavailable: boolean;
  pending: number;
  oldestPendingMinutes: number | null;
};

/** One pass over the keys that are due: what the storage-cleanup job runs. */
export async function runStorageCleanup(deps: { repos: Repos; storage: StorageDriver; logger: Logger }, now: Date): Promise<CleanupRun> {
  const { repos, storage, logger } = deps;
  const run: CleanupRun = { deleted: 0, awaitingConfirmation: 0, referenced: 0, abandoned: 0, failed: 0, storeUnavailable: false, pending: 0, oldestPendingMinutes: null };
  const due = await repos.storageCleanup.due(now, BATCH);
  const ids = [...new Set(due.map((d) => d.imageId).filter((id): id is string => id !== null))];
  // Never delete what a row references: an image's live bytes, or bytes waiting to move to the recovery store.
  const referenced = ids.length ? new Set([...(await repos.images.existingIds(ids)), ...(await repos.recovery.knownImageIds(ids))]) : new Set<string>();
  for (const item of due) {
    // An upload's reservation that came due: its upload died (its heartbeat stopped). Claimed first, so that upload
    // can no longer insert its row; if it released the keys (or its heartbeat extended them) meanwhile, they stay.
    if (item.reason === 'in_flight') {
      if (!(await repos.storageCleanup.claim(item.key, now))) continue;
      item.reason = 'undo';
      run.abandoned++;
    }
    if (item.imageId && referenced.has(item.imageId)) {
      await repos.storageCleanup.remove(item.key);
      logger.info({ key: item.key, reason: item.reason }, 'storage cleanup: the key belongs to an image after all; left in place');
      run.referenced++;
      continue;
    }
    try {
      await storage.delete(item.key);
    } catch (err) {
      run.failed++;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof StorageUnavailable) {
        // The store is down: the next run asks again, so the key goes within a minute of the store coming back.
        await repos.storageCleanup.failed(item.key, message, now);
        run.storeUnavailable = true;
        break;
      }
      const wait = Math.min(FIRST_BACKOFF_MS * 2 ** item.attempts, MAX_BACKOFF_MS);
      await repos.storageCleanup.failed(item.key, message, new Date(now.getTime() + wait));
      logger.warn({ err, key: item.key, attempts: item.attempts + 1, retryInSeconds: wait / 1000 }, 'storage cleanup: the store refused to delete an object');
      continue;
    }
    const settled = item.confirmedAt !== null && now.getTime() - item.confirmedAt.getTime() >= LATE_WRITE_SETTLE_MS;
    if (item.reason === 'write_unknown' && !settled) {
      await repos.storageCleanup.confirmed(item.key, now, new Date(now.getTime() + LATE_WRITE_SETTLE_MS));
      run.awaitingConfirmation++;
    } else {
      await repos.storageCleanup.remove(item.key);
      run.deleted++;
    }
  }
  const summary = await repos.storageCleanup.summary();
  run.pending = summary.pending;
  run.oldestPendingMinutes = summary.oldest ? Math.floor((now.getTime() - summary.oldest.getTime()) / 60_000) : null;
  return run;
}
