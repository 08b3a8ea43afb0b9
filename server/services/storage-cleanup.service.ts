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
const MAX_BACKOFF_MS = 6 * 60 * 60_000;
const BATCH = 200;

export type CleanupDeps = { repos: Repos; logger: Logger; clock: () => Date };

/**
 * Records keys for the cleanup job. Never throws: if even the database refuses, the keys are logged at error level
 * (the orphan sweep removes them after its grace period).
 */
export async function recordForCleanup(deps: CleanupDeps, entries: ReadonlyArray<{ key: string; reason: CleanupReason }>, cause?: unknown): Promise<void> {
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
 * `put` as the driver's, then `undo(cause)` in the operation's catch.
 */
export function trackWrites(storage: StorageDriver) {
  const written: string[] = [];
  const unknown: string[] = [];
  return {
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
     * Deletes what was written. When the store itself failed (cause is StorageUnavailable) it is not asked again
     * now: that would hold the client's answer for another timeout. Those keys, the writes of unknown outcome and
     * any delete that fails are recorded for the cleanup job instead.
     */
    async undo(deps: CleanupDeps, cause: unknown): Promise<void> {
      const leftOver: Array<{ key: string; reason: CleanupReason }> = unknown.map((key) => ({ key, reason: 'write_unknown' }));
      if (cause instanceof StorageUnavailable) {
        leftOver.push(...written.map((key) => ({ key, reason: 'undo' as const })));
      } else {
        const results = await Promise.allSettled(written.map((key) => storage.delete(key)));
        results.forEach((result, i) => {
          if (result.status === 'rejected') leftOver.push({ key: written[i]!, reason: 'undo' });
        });
      }
      await recordForCleanup(deps, leftOver, cause);
    },
  };
}

export type CleanupRun = {
  /** Keys the store confirmed gone for good (their records are removed). */
  deleted: number;
  /** Writes of unknown outcome deleted once, to be confirmed again after LATE_WRITE_SETTLE_MS. */
  awaitingConfirmation: number;
  /** Keys a row references after all: left in the store, records removed. */
  referenced: number;
  /** Deletes that failed this run. */
  failed: number;
  storeUnavailable: boolean;
  pending: number;
  oldestPendingMinutes: number | null;
};

/** One pass over the keys that are due: what the storage-cleanup job runs. */
export async function runStorageCleanup(deps: { repos: Repos; storage: StorageDriver; logger: Logger }, now: Date): Promise<CleanupRun> {
  const { repos, storage, logger } = deps;
  const run: CleanupRun = { deleted: 0, awaitingConfirmation: 0, referenced: 0, failed: 0, storeUnavailable: false, pending: 0, oldestPendingMinutes: null };
  const due = await repos.storageCleanup.due(now, BATCH);
  const ids = [...new Set(due.map((d) => d.imageId).filter((id): id is string => id !== null))];
  // Never delete what a row references: an image's live bytes, or bytes waiting to move to the recovery store.
  const referenced = ids.length ? new Set([...(await repos.images.existingIds(ids)), ...(await repos.recovery.knownImageIds(ids))]) : new Set<string>();
  for (const item of due) {
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
