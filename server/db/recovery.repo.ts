import type { Knex } from 'knex';
import type { ImageRecord } from './images.repo.js';
import { insertInBatches, toDate } from './knex.js';

/** Why an image left the live store; the moderation and retention issues add their own. */
export type DeletionReason = 'owner' | 'delete_key' | 'expired' | 'moderation' | 'account';

export type RecoveryItem = {
  imageId: string;
  token: string;
  record: ImageRecord;
  /** The owner's albums the image was in, put back on restore (only kept when the whole account was deleted). */
  albumIds: string[];
  ownerId: string | null;
  reason: DeletionReason;
  deletedAt: Date;
  bytesMoved: boolean;
};

type Row = {
  image_id: string;
  token: string;
  record: string;
  owner_id: string | null;
  reason: string;
  deleted_at: Date | number;
  bytes_moved: boolean | number;
};

function fromRow(r: Row): RecoveryItem {
  const { albumIds, ...raw } = JSON.parse(r.record) as Omit<ImageRecord, 'createdAt' | 'expiresAt'> & { createdAt: string; expiresAt?: string | null; albumIds?: string[] };
  return {
    imageId: r.image_id,
    token: r.token,
    // A restored image is served again, so it is not missing; an expiry it had is kept.
    record: {
      ...raw,
      createdAt: new Date(raw.createdAt),
      expiresAt: raw.expiresAt ? new Date(raw.expiresAt) : null,
      missingSince: null,
      moderationState: raw.moderationState ?? null,
      moderationReason: raw.moderationReason ?? null,
      pixelSha256: raw.pixelSha256 ?? null, // absent from items recorded before the hashes existed
      phash: raw.phash ?? null,
    },
    albumIds: albumIds ?? [],
    ownerId: r.owner_id ?? null,
    reason: r.reason as DeletionReason,
    deletedAt: toDate(r.deleted_at),
    bytesMoved: Boolean(r.bytes_moved),
  };
}

/** The staff image browser's filters on the recovery store; dates are deletion dates. */
export type StaffRecoveryFilter = { imageId?: string; ownerId?: string; from?: Date; to?: Date; after: { deletedAt: Date; imageId: string } | null; limit: number };

export function createRecoveryRepo(db: Knex) {
  return {
    async insertMany(items: readonly Omit<RecoveryItem, 'bytesMoved'>[]): Promise<void> {
      const rows = items.map((i) => ({
        image_id: i.imageId,
        token: i.token,
        record: JSON.stringify({ ...i.record, albumIds: i.albumIds.length ? i.albumIds : undefined }),
        owner_id: i.ownerId,
        reason: i.reason,
        deleted_at: i.deletedAt,
        bytes_moved: false,
      }));
      await insertInBatches(db, 'recovery_items', rows);
    },

    async find(imageId: string): Promise<RecoveryItem | null> {
      const row = (await db('recovery_items').where({ image_id: imageId }).first()) as Row | undefined;
      return row ? fromRow(row) : null;
    },

    async markMoved(imageId: string): Promise<void> {
      await db('recovery_items').where({ image_id: imageId }).update({ bytes_moved: true });
    },

    /** Deletes the row only if it is still there; false when another process got to it first. */
    async remove(imageId: string): Promise<boolean> {
      return (await db('recovery_items').where({ image_id: imageId }).delete()) > 0;
    },

    /** Items of one owner's images, for one deletion reason or all. */
    async listByOwner(ownerId: string, reason?: DeletionReason): Promise<RecoveryItem[]> {
      const q = db('recovery_items').where({ owner_id: ownerId });
      if (reason) q.andWhere({ reason });
      return ((await q) as Row[]).map(fromRow);
    },

    /**
     * Items deleted at or before the cut-off, oldest first. Images of an account that waits for its purge are
     * not among them: they must stay restorable for the whole grace period, and the purge erases them itself.
     */
    async listExpired(cutoff: Date, limit: number): Promise<RecoveryItem[]> {
      return (
        (await db('recovery_items')
          .where('deleted_at', '<=', cutoff)
          .andWhere((q) => q.whereNot({ reason: 'account' }).orWhereNull('owner_id'))
          .orderBy('deleted_at')
          .limit(limit)) as Row[]
      ).map(fromRow);
    },

    /** Whether any item (moved or not) is for this image id: its live bytes are not orphans. */
    async knownImageIds(ids: readonly string[]): Promise<Set<string>> {
      return new Set((await db('recovery_items').whereIn('image_id', [...ids]).pluck('image_id')) as string[]);
    },

    /** Which of these recovery-store tokens still have an item (the orphan sweep). */
    async knownTokens(tokens: readonly string[]): Promise<Set<string>> {
      return new Set((await db('recovery_items').whereIn('token', [...tokens]).pluck('token')) as string[]);
    },

    /** Items whose bytes were never moved (the move failed after the delete was committed), deleted before `before`. */
    async listUnmoved(before: Date, limit: number): Promise<RecoveryItem[]> {
      return ((await db('recovery_items').where({ bytes_moved: false }).andWhere('deleted_at', '<', before).orderBy('deleted_at').limit(limit)) as Row[]).map(
        fromRow,
      );
    },

    /** Staff only (the image browser): items, newest deletion first, one keyset page by (deleted_at, image_id). */
    async searchForStaff(filter: StaffRecoveryFilter): Promise<RecoveryItem[]> {
      // Staff browse what moderators removed; an owner's own deletions are not theirs to look through.
      const q = db('recovery_items').where({ reason: 'moderation' });
      if (filter.imageId) q.where({ image_id: filter.imageId });
      if (filter.ownerId) q.where({ owner_id: filter.ownerId });
      if (filter.from) q.where('deleted_at', '>=', filter.from);
      if (filter.to) q.where('deleted_at', '<', filter.to);
      if (filter.after) q.andWhereRaw('(deleted_at, image_id) < (?, ?)', [filter.after.deletedAt, filter.after.imageId]);
      const rows = (await q.orderBy([
        { column: 'deleted_at', order: 'desc' },
        { column: 'image_id', order: 'desc' },
      ]).limit(filter.limit)) as Row[];
      return rows.map(fromRow);
    },

    /** The statement of reasons a moderator's removal left on the item (null for other deletions). */
    async statementOf(imageId: string): Promise<string | null> {
      const row = (await db('recovery_items').where({ image_id: imageId }).first('statement')) as { statement: string | null } | undefined;
      return row?.statement ?? null;
    },

    /** Keeps the statement of reasons with an item a moderator's removal recorded (inside that transaction). */
    async setStatement(imageId: string, statement: string): Promise<void> {
      await db('recovery_items').where({ image_id: imageId }).update({ statement });
    },

    /** The owner's images removed by moderators and still on record, with the statement of reasons each left. */
    async listModerationStatements(ownerId: string): Promise<Array<{ imageId: string; statement: string; deletedAt: Date }>> {
      const rows = (await db('recovery_items').where({ owner_id: ownerId, reason: 'moderation' }).select('image_id', 'statement', 'deleted_at')) as Array<{ image_id: string; statement: string | null; deleted_at: unknown }>;
      return rows.map((r) => ({ imageId: r.image_id, statement: r.statement ?? '', deletedAt: toDate(r.deleted_at) }));
    },

    async count(): Promise<number> {
      const row = (await db('recovery_items').count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type RecoveryRepo = ReturnType<typeof createRecoveryRepo>;
