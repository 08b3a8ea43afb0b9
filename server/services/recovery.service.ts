import type { Logger } from 'pino';
import type { ImageRecord } from '../db/images.repo.js';
import type { DeletionReason, RecoveryItem } from '../db/recovery.repo.js';
import type { Repos } from '../db/repos.js';
import { AppError } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { allImageKeys } from '../storage/keys.js';
import type { StorageDriver } from '../storage/storage.js';
import { storedBytes } from './quota.service.js';

/**
 * The recovery store. Whatever deletes an image (its owner, a guest's delete link, expiry, moderation) removes the
 * row and records a recovery item in one transaction, then moves every variant under recovery/<token>/, a prefix
 * (a folder on local disk) that no route and no public URL ever reads. Items are restorable for RECOVERY_DAYS;
 * then the reaper deletes the bytes and the item.
 */
export type RecoveryDeps = {
  repos: Repos;
  storage: StorageDriver;
  logger?: Logger;
};

export const RECOVERY_PREFIX = 'recovery/';
const TOKEN_LENGTH = 24;
/** A move that has not finished this long after the delete was committed is taken to have failed. */
const UNMOVED_GRACE_MS = 5 * 60_000;
const REAP_BATCH = 100;
const MOVE_CONCURRENCY = 4;

export class RecoveryGone extends AppError {
  constructor() {
    super('gone', 'recovery_gone', 'This image can no longer be restored: its recovery window has ended and its bytes were removed.');
  }
}

/** Each live key of the image and where it waits in the recovery store. */
export const recoveryKeyPairs = (item: Pick<RecoveryItem, 'token' | 'record'>): Array<{ live: string; recovery: string }> =>
  allImageKeys(item.record).map((live) => ({ live, recovery: `${RECOVERY_PREFIX}${item.token}/${live}` }));

/** Inside the transaction tx that deletes the rows: remembers them. Pass the result to moveToRecovery after commit. */
export async function recordDeletions(
  tx: Pick<Repos, 'recovery'>,
  images: readonly ImageRecord[],
  reason: DeletionReason,
  now: Date,
  albumsByImage: ReadonlyMap<string, string[]> = new Map(),
): Promise<RecoveryItem[]> {
  const items = images.map((record) => ({
    imageId: record.id,
    token: randomBase62(TOKEN_LENGTH),
    record,
    albumIds: albumsByImage.get(record.id) ?? [],
    ownerId: record.ownerId,
    reason,
    deletedAt: now,
  }));
  await tx.recovery.insertMany(items);
  return items.map((item) => ({ ...item, bytesMoved: false }));
}

/**
 * After commit: moves every variant into the recovery store. The rows are already gone, so nothing serves these
 * bytes meanwhile; a move that fails (the store is down) is logged and finished later by the reaper.
 */
export async function moveToRecovery(deps: RecoveryDeps, items: readonly RecoveryItem[]): Promise<void> {
  // A few at a time: deleting a large account must not queue hundreds of storage calls behind each other's timeouts.
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        for (const { live, recovery } of recoveryKeyPairs(item)) await deps.storage.move(live, recovery);
        await deps.repos.recovery.markMoved(item.imageId);
      } catch (err) {
        deps.logger?.warn({ err, imageId: item.imageId }, 'could not move deleted image to the recovery store; the reaper will retry');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(MOVE_CONCURRENCY, items.length) }, worker));
}

/**
 * Brings a deleted image back with its variants, under its old id and links. The bytes go back to the owner's
 * quota even past its limit: restoring is a staff decision. An image whose item was reaped gets RecoveryGone.
 * inTx runs inside the restoring transaction (e.g. the staff member's audit entry), so both commit or neither.
 */
export async function restoreImage(
  deps: RecoveryDeps,
  imageId: string,
  actor: { userId: string | null; ip: string | undefined; userAgent: string | undefined },
  now: Date,
  inTx?: (tx: Repos) => Promise<void>,
): Promise<ImageRecord> {
  const item = await deps.repos.recovery.find(imageId);
  if (!item) throw new RecoveryGone();
  const pairs = recoveryKeyPairs(item);
  for (const { live, recovery } of pairs) {
    if (!(await deps.storage.move(recovery, live))) throw new RecoveryGone();
  }
  // An image restored after it expired stays: restoring it was a decision to keep it.
  const record: ImageRecord = {
    ...item.record,
    ownerId: item.ownerId,
    expiresAt: item.reason === 'expired' ? null : item.record.expiresAt,
    // Restoring what moderators removed is their decision to undo it.
    ...(item.reason === 'moderation' ? { moderationState: null, moderationReason: null } : {}),
  };
  try {
    await deps.repos.transaction(async (tx) => {
      if (!(await tx.recovery.remove(imageId))) throw new RecoveryGone(); // reaped or restored meanwhile
      await tx.images.insert(record);
      if (record.ownerId) {
        await tx.users.addBytes(record.ownerId, storedBytes(record));
        await tx.albums.putBack(record.ownerId, imageId, item.albumIds, now);
      }
      await tx.securityLog.insert(
        { event: 'image.restore', userId: actor.userId, ip: actor.ip, userAgent: actor.userAgent, imageId, detail: { imageId, reason: item.reason } },
        now,
      );
      await inTx?.(tx);
    });
  } catch (err) {
    // Put the bytes back where the surviving item says they are.
    for (const { live, recovery } of pairs) await deps.storage.move(live, recovery).catch(() => undefined);
    throw err;
  }
  return record;
}

/**
 * Deletes items older than recoveryDays (bytes first, then the row), and finishes moves that failed. Idempotent:
 * deleting bytes that are already gone succeeds. `now` is the database clock, so replicas agree.
 */
export async function reapRecovery(deps: RecoveryDeps, recoveryDays: number, now: Date): Promise<{ reaped: number; moved: number }> {
  const cutoff = new Date(now.getTime() - recoveryDays * 86_400_000);
  let reaped = 0;
  for (;;) {
    const batch = await deps.repos.recovery.listExpired(cutoff, REAP_BATCH);
    if (batch.length === 0) break;
    for (const item of batch) {
      // The live keys too: a move that never happened left the bytes there, and no row serves them.
      for (const { live, recovery } of recoveryKeyPairs(item)) {
        await deps.storage.delete(recovery);
        await deps.storage.delete(live);
      }
      if (await deps.repos.recovery.remove(item.imageId)) reaped++;
    }
    if (batch.length < REAP_BATCH) break;
  }
  let moved = 0;
  for (;;) {
    const unmoved = await deps.repos.recovery.listUnmoved(new Date(now.getTime() - UNMOVED_GRACE_MS), REAP_BATCH);
    for (const item of unmoved) {
      for (const { live, recovery } of recoveryKeyPairs(item)) await deps.storage.move(live, recovery);
      await deps.repos.recovery.markMoved(item.imageId);
      moved++;
    }
    if (unmoved.length < REAP_BATCH) break;
  }
  return { reaped, moved };
}
