import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';

/**
 * Why a key waits for deletion: a write whose outcome is unknown, or a written object to undo (its delete failed, or
 * waits for the store); 'in_flight' is an upload's key between its first write and the insert of its row, due only
 * after a grace (an upload still alive releases it in its insert transaction; one that died leaves it due).
 */
export type CleanupReason = 'write_unknown' | 'undo' | 'in_flight';

export type PendingCleanup = {
  key: string;
  imageId: string | null;
  reason: CleanupReason;
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  confirmedAt: Date | null;
};

type Row = {
  key: string;
  image_id: string | null;
  reason: string;
  attempts: number | string;
  created_at: Date | number;
  next_attempt_at: Date | number;
  confirmed_at: Date | number | null;
};

const fromRow = (r: Row): PendingCleanup => ({
  key: r.key,
  imageId: r.image_id,
  reason: r.reason as CleanupReason,
  attempts: Number(r.attempts),
  createdAt: toDate(r.created_at),
  nextAttemptAt: toDate(r.next_attempt_at),
  confirmedAt: toDateOrNull(r.confirmed_at),
});

/** Storage keys waiting to be deleted (see the storage_cleanup migration and services/storage-cleanup.service.ts). */
export function createStorageCleanupRepo(db: Knex) {
  return {
    /**
     * Records keys as due now; a key already waiting is due now again and must be confirmed gone afresh. A write of
     * unknown outcome stays one (it is confirmed gone twice); an upload's reservation becomes the reason given.
     */
    async record(entries: ReadonlyArray<{ key: string; imageId: string | null; reason: Exclude<CleanupReason, 'in_flight'> }>, now: Date): Promise<void> {
      for (const e of entries) {
        await db('storage_cleanup')
          .insert({ key: e.key, image_id: e.imageId, reason: e.reason, attempts: 0, created_at: now, next_attempt_at: now, confirmed_at: null })
          .onConflict('key')
          .merge({ next_attempt_at: now, confirmed_at: null, reason: db.raw(`CASE WHEN storage_cleanup.reason = 'write_unknown' THEN 'write_unknown' ELSE ? END`, [e.reason]) });
      }
    },

    /** An upload's keys, recorded before its first write and due only at dueAt (see CleanupReason 'in_flight'). */
    async reserve(entries: ReadonlyArray<{ key: string; imageId: string | null }>, now: Date, dueAt: Date): Promise<void> {
      if (entries.length === 0) return;
      await db('storage_cleanup').insert(
        entries.map((e) => ({ key: e.key, image_id: e.imageId, reason: 'in_flight', attempts: 0, created_at: now, next_attempt_at: dueAt, confirmed_at: null })),
      );
    },

    /** The upload is alive: its reservations that are still its own come due later (see trackWrites' heartbeat). */
    async extend(keys: readonly string[], dueAt: Date): Promise<void> {
      if (keys.length === 0) return;
      await db('storage_cleanup').whereIn('key', keys).andWhere({ reason: 'in_flight' }).update({ next_attempt_at: dueAt });
    },

    /**
     * Removes reservations that are still the upload's (in its insert transaction, or when it undoes); returns how
     * many. Fewer than asked means the cleanup job claimed the rest: their objects may be deleted already.
     */
    async release(keys: readonly string[]): Promise<number> {
      if (keys.length === 0) return 0;
      return db('storage_cleanup').whereIn('key', keys).andWhere({ reason: 'in_flight' }).delete();
    },

    /**
     * The cleanup job takes a reservation that came due (its upload died, or is far too slow): it becomes an undo.
     * False when the upload released or extended it meanwhile (the row is gone, or not due). A single conditional
     * statement, so a concurrent release and claim cannot both succeed.
     */
    async claim(key: string, now: Date): Promise<boolean> {
      return (await db('storage_cleanup').where({ key, reason: 'in_flight' }).andWhere('next_attempt_at', '<=', now).update({ reason: 'undo' })) === 1;
    },

    /** Keys whose next attempt is due, the longest-waiting first. */
    async due(now: Date, limit: number): Promise<PendingCleanup[]> {
      const rows = (await db('storage_cleanup').where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit)) as Row[];
      return rows.map(fromRow);
    },

    /** The store said the key is gone; look again at nextAttemptAt. */
    async confirmed(key: string, at: Date, nextAttemptAt: Date): Promise<void> {
      await db('storage_cleanup').where({ key }).update({ confirmed_at: at, next_attempt_at: nextAttemptAt, attempts: db.raw('attempts + 1'), last_error: null });
    },

    async failed(key: string, error: string, nextAttemptAt: Date): Promise<void> {
      await db('storage_cleanup').where({ key }).update({ last_error: error.slice(0, 500), next_attempt_at: nextAttemptAt, attempts: db.raw('attempts + 1') });
    },

    async remove(key: string): Promise<void> {
      await db('storage_cleanup').where({ key }).delete();
    },

    /** How many keys wait, and since when the oldest does (the job's run detail); live uploads' reservations are not counted. */
    async summary(): Promise<{ pending: number; oldest: Date | null }> {
      const row = (await db('storage_cleanup').whereNot({ reason: 'in_flight' }).count({ n: '*' }).min({ oldest: 'created_at' }).first()) as { n: number | string; oldest: Date | number | null } | undefined;
      return { pending: Number(row?.n ?? 0), oldest: toDateOrNull(row?.oldest ?? null) };
    },
  };
}

export type StorageCleanupRepo = ReturnType<typeof createStorageCleanupRepo>;
