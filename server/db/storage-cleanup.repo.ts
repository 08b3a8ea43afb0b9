import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';

/** Why a key waits for deletion: a write whose outcome is unknown, or a written object to undo (its delete failed, or waits for the store). */
export type CleanupReason = 'write_unknown' | 'undo';

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
    /** Records keys as due now; a key already waiting is due now again and must be confirmed gone afresh. */
    async record(entries: ReadonlyArray<{ key: string; imageId: string | null; reason: CleanupReason }>, now: Date): Promise<void> {
      for (const e of entries) {
        await db('storage_cleanup')
          .insert({ key: e.key, image_id: e.imageId, reason: e.reason, attempts: 0, created_at: now, next_attempt_at: now, confirmed_at: null })
          .onConflict('key')
          .merge({ next_attempt_at: now, confirmed_at: null, ...(e.reason === 'write_unknown' ? { reason: e.reason } : {}) });
      }
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

    /** How many keys wait, and since when the oldest does (the job's run detail). */
    async summary(): Promise<{ pending: number; oldest: Date | null }> {
      const row = (await db('storage_cleanup').count({ n: '*' }).min({ oldest: 'created_at' }).first()) as { n: number | string; oldest: Date | number | null } | undefined;
      return { pending: Number(row?.n ?? 0), oldest: toDateOrNull(row?.oldest ?? null) };
    },
  };
}

export type StorageCleanupRepo = ReturnType<typeof createStorageCleanupRepo>;
