import type { Knex } from 'knex';
import { fromRow, toRow, type ImageRecord, type ImageRow, type NewImage, type Visibility } from './image-rows.js';
import { imageChangesOf, imageWriteLog, type ImageWriteLog } from './image-changes.js';
import { containsPattern, inBatches, rawRows, toDate, toDateOrNull, type Db } from './knex.js';

export { toRow, VISIBILITIES, type ImageRecord, type NewImage, type Visibility } from './image-rows.js';

/** Where a keyset page starts: the (created_at, id) of the last row of the page before. */
export type PagePosition = { createdAt: Date; id: string };

export type OwnerListQuery = {
  sort: 'newest' | 'oldest';
  after: PagePosition | null;
  limit: number;
  /** Case-insensitive substring of the title or the original file name. */
  search?: string;
  visibility?: Visibility;
};

/**
 * One keyset page of an owner's images, ordered by (created_at, id). The row-value comparison and the ordering
 * both follow the (owner_id, created_at, id) index, so a page costs the same at any depth. Exported so tests can
 * EXPLAIN exactly the query the app runs.
 */
export function ownerPageQuery(db: Knex, ownerId: string, query: OwnerListQuery): Knex.QueryBuilder {
  const direction = query.sort === 'oldest' ? 'asc' : 'desc';
  const q = db('images').where('owner_id', ownerId);
  // A listing for others (the public profile) never shows what moderators hid; the owner's own list does.
  if (query.visibility) q.andWhere('visibility', query.visibility).andWhere((h) => h.whereNull('moderation_state').orWhereNot('moderation_state', 'hidden'));
  if (query.search) {
    const pattern = containsPattern(query.search);
    // One parenthesised raw clause: an OR must never escape the owner filter.
    q.andWhereRaw("(lower(coalesce(title, '')) like ? escape '\\' or lower(original_name) like ? escape '\\')", [pattern, pattern]);
  }
  if (query.after) {
    q.andWhereRaw(`(created_at, id) ${direction === 'desc' ? '<' : '>'} (?, ?)`, [query.after.createdAt, query.after.id]);
  }
  return q
    .orderBy([
      { column: 'created_at', order: direction },
      { column: 'id', order: direction },
    ])
    .limit(query.limit);
}

/** The staff image browser's filters; all optional but the page. */
export type StaffImageFilter = { id?: string; ownerId?: string; state?: 'sensitive' | 'hidden'; from?: Date; to?: Date; after: PagePosition | null; limit: number };

/**
 * Every statement that changes rows reports their ids through `writes` (see image-changes.ts): the serving caches
 * depend on it, so a new writer of the images table belongs here, reporting what it changed.
 */
export function createImagesRepo(db: Knex, writes: ImageWriteLog = imageWriteLog(imageChangesOf(db as Db))) {
  const only = (id: string, changed: number | boolean) => (changed ? [id] : []);
  return {
    async insert(image: NewImage): Promise<void> {
      await writes.write(db, async (q) => {
        await q('images').insert(toRow(image));
        return { result: undefined, changed: [image.id] };
      });
    },

    async findById(id: string): Promise<ImageRecord | null> {
      const row = (await db('images').where({ id }).first()) as ImageRow | undefined;
      return row ? fromRow(row) : null;
    },

    async deleteById(id: string): Promise<boolean> {
      return writes.write(db, async (q) => {
        const deleted = (await q('images').where({ id }).delete()) > 0;
        return { result: deleted, changed: only(id, deleted) };
      });
    },

    /** Deletes the row only while it still has this delete key (a claim in between replaces the key). */
    async deleteByIdAndKeyHash(id: string, deleteKeyHash: string): Promise<boolean> {
      return writes.write(db, async (q) => {
        const deleted = (await q('images').where({ id, delete_key_hash: deleteKeyHash }).delete()) > 0;
        return { result: deleted, changed: only(id, deleted) };
      });
    },

    async count(): Promise<number> {
      const row = (await db('images').count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** Staff only (the image browser): any owner's images, newest first, one keyset page by (created_at, id). */
    async searchForStaff(filter: StaffImageFilter): Promise<ImageRecord[]> {
      const q = db('images');
      if (filter.id) q.where({ id: filter.id });
      if (filter.ownerId) q.where({ owner_id: filter.ownerId });
      if (filter.state) q.where({ moderation_state: filter.state });
      if (filter.from) q.where('created_at', '>=', filter.from);
      if (filter.to) q.where('created_at', '<', filter.to);
      if (filter.after) q.andWhereRaw('(created_at, id) < (?, ?)', [filter.after.createdAt, filter.after.id]);
      const rows = (await q.orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ]).limit(filter.limit)) as ImageRow[];
      return rows.map(fromRow);
    },

    // Everything below is scoped to one owner: the owner id comes first and always sits in the WHERE clause.

    /**
     * One keyset page of an owner's images, ordered by (created_at, id). The row-value comparison and the
     * ordering both follow the (owner_id, created_at, id) index, so a page costs the same at any depth.
     */
    async listByOwner(ownerId: string, query: OwnerListQuery): Promise<ImageRecord[]> {
      return ((await ownerPageQuery(db, ownerId, query)) as ImageRow[]).map(fromRow);
    },

    async findOwned(ownerId: string, id: string): Promise<ImageRecord | null> {
      const row = (await db('images').where({ owner_id: ownerId, id }).first()) as ImageRow | undefined;
      return row ? fromRow(row) : null;
    },

    async updateOwned(ownerId: string, id: string, changes: { title?: string | null; visibility?: Visibility }): Promise<boolean> {
      const row: Record<string, unknown> = {};
      if (changes.title !== undefined) row.title = changes.title;
      if (changes.visibility !== undefined) row.visibility = changes.visibility;
      if (Object.keys(row).length === 0) return (await db('images').where({ owner_id: ownerId, id }).first()) !== undefined;
      return writes.write(db, async (q) => {
        const updated = (await q('images').where({ owner_id: ownerId, id }).update(row)) > 0;
        return { result: updated, changed: only(id, updated) };
      });
    },

    /** Guest uploads whose chosen deletion time has come, and (with a ceiling) guest uploads older than it. */
    async listExpired(now: Date, limit: number, guestCeiling: Date | null = null): Promise<ImageRecord[]> {
      const q = db('images').where((e) => e.whereNotNull('expires_at').andWhere('expires_at', '<=', now));
      if (guestCeiling) q.orWhere((c) => c.whereNull('owner_id').andWhere('created_at', '<=', guestCeiling));
      return ((await q.orderBy('created_at').limit(limit)) as ImageRow[]).map(fromRow);
    },

    /** Deletes the row only while it is still due as listExpired saw it: a claim in between cleared the expiry. */
    async deleteIfExpired(id: string, now: Date, guestCeiling: Date | null = null): Promise<boolean> {
      return writes.write(db, async (trx) => {
        const deleted =
          (await trx('images')
            .where({ id })
            .andWhere((q) => {
              q.where((e) => e.whereNotNull('expires_at').andWhere('expires_at', '<=', now));
              if (guestCeiling) q.orWhere((c) => c.whereNull('owner_id').andWhere('created_at', '<=', guestCeiling));
            })
            .delete()) > 0;
        return { result: deleted, changed: only(id, deleted) };
      });
    },

    /** Which of these ids have a row (the orphan sweep). */
    async existingIds(ids: readonly string[]): Promise<Set<string>> {
      return new Set((await db('images').whereIn('id', [...ids]).pluck('id')) as string[]);
    },

    /** A keyset page (by id) of rows created before `createdBefore`, with what the orphan sweep checks. */
    async listForSweep(afterId: string, createdBefore: Date, limit: number): Promise<Array<{ id: string; ext: string; missingSince: Date | null }>> {
      const rows = (await db('images').where('id', '>', afterId).andWhere('created_at', '<', createdBefore).orderBy('id').limit(limit).select('id', 'ext', 'missing_since')) as Array<{
        id: string;
        ext: string;
        missing_since: unknown;
      }>;
      return rows.map((r) => ({ id: r.id, ext: r.ext, missingSince: toDateOrNull(r.missing_since) }));
    },

    /** Marks the row's bytes missing (a Date) or back (null). */
    async setMissingSince(id: string, since: Date | null): Promise<void> {
      await writes.write(db, async (q) => ({ result: undefined, changed: only(id, await q('images').where({ id }).update({ missing_since: since })) }));
    },

    /** Every image of an owner (for account deletion and export). */
    async listAllOwned(ownerId: string): Promise<ImageRecord[]> {
      return ((await db('images').where({ owner_id: ownerId }).orderBy('created_at')) as ImageRow[]).map(fromRow);
    },

    async deleteAllOwned(ownerId: string): Promise<number> {
      return writes.write(db, async (q) => {
        // RETURNING names the rows, so the caches drop exactly these.
        const ids = rawRows<{ id: string }>(await q.raw('delete from images where owner_id = ? returning id', [ownerId])).map((r) => r.id);
        return { result: ids.length, changed: ids };
      });
    },

    /** Deletes the owner's rows among ids and returns exactly the rows this statement removed. */
    async deleteOwned(ownerId: string, ids: readonly string[]): Promise<ImageRecord[]> {
      if (ids.length === 0) return [];
      const marks = ids.map(() => '?').join(', ');
      return writes.write(db, async (q) => {
        // RETURNING (PostgreSQL, SQLite ≥ 3.35): two concurrent deletes of one row cannot both count it.
        const deleted = rawRows<ImageRow>(await q.raw(`delete from images where owner_id = ? and id in (${marks}) returning *`, [ownerId, ...ids])).map(fromRow);
        return { result: deleted, changed: deleted.map((i) => i.id) };
      });
    },

    /** Moves an unowned image into an account if its delete key is still the one presented; replaces the key. */
    async claim(ownerId: string, id: string, expectedKeyHash: string, newKeyHash: string): Promise<boolean> {
      return writes.write(db, async (q) => {
        const updated = await q('images')
          .where({ id, delete_key_hash: expectedKeyHash })
          .whereNull('owner_id')
          // An account keeps what it claims: a guest's chosen deletion time no longer applies.
          .update({ owner_id: ownerId, delete_key_hash: newKeyHash, expires_at: null });
        return { result: updated > 0, changed: only(id, updated) };
      });
    },

    // Staff and moderation: not scoped to an owner (moderators act on anyone's images; never reachable by users).

    /** These images by id, in batched queries (a staff page shows many at once). */
    async findByIds(ids: readonly string[]): Promise<Map<string, ImageRecord>> {
      const found = new Map<string, ImageRecord>();
      const unique = [...new Set(ids)];
      for (const batch of inBatches(unique)) {
        for (const row of (await db('images').whereIn('id', batch)) as ImageRow[]) found.set(row.id, fromRow(row));
      }
      return found;
    },

    /** A moderator's decision: sensitive or hidden with the statement of reasons, or (null) none; false when the image is gone. */
    async setModeration(id: string, decision: { state: 'sensitive' | 'hidden' | null; reason: string | null; at: Date }): Promise<boolean> {
      return writes.write(db, async (q) => {
        const updated = (await q('images').where({ id }).update({ moderation_state: decision.state, moderation_reason: decision.state ? decision.reason : null, moderated_at: decision.at })) > 0;
        return { result: updated, changed: only(id, updated) };
      });
    },

    /** The owner's images with a moderation decision on them (their statement of reasons), with when it was taken. */
    async listModeratedByOwner(ownerId: string): Promise<Array<{ id: string; state: 'sensitive' | 'hidden'; reason: string | null; at: Date }>> {
      const rows = (await db('images').where({ owner_id: ownerId }).whereNotNull('moderation_state').select('id', 'moderation_state', 'moderation_reason', 'moderated_at')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({ id: String(r.id), state: r.moderation_state === 'hidden' ? 'hidden' : 'sensitive', reason: (r.moderation_reason as string | null) ?? null, at: toDate(r.moderated_at) }));
    },

    async countByOwner(ownerId: string): Promise<number> {
      const row = (await db('images').where({ owner_id: ownerId }).count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** A keyset page (by id) of images that have no display variant yet (the backfill), skipping rows whose bytes are missing. */
    async listLackingDisplay(afterId: string, limit: number): Promise<ImageRecord[]> {
      const rows = (await db('images').where('id', '>', afterId).whereNull('display_size').whereNull('missing_since').orderBy('id').limit(limit)) as ImageRow[];
      return rows.map(fromRow);
    },

    /**
     * Records the display variant of an image that has none yet. Returns the row's owner (whose quota now pays for
     * it) when it was recorded; null when the row is gone or already has one.
     */
    async setDisplayVariant(id: string, variant: { size: number; width: number; height: number; sha256: string }): Promise<{ ownerId: string | null } | null> {
      return writes.write(db, async (q) => {
        const rows = (await q('images')
          .where({ id })
          .whereNull('display_size')
          .update({ display_size: variant.size, display_width: variant.width, display_height: variant.height, display_sha256: variant.sha256 })
          .returning('owner_id')) as Array<{ owner_id: string | null }>;
        return { result: rows[0] ? { ownerId: rows[0].owner_id ?? null } : null, changed: rows.length ? [id] : [] };
      });
    },

    /** How many images are stored and their bytes, every variant counted (the staff dashboard). */
    async storageTotals(): Promise<{ images: number; bytes: number }> {
      const row = (await db('images').sum({ bytes: 'size' }).sum({ thumbs: 'thumb_size' }).sum({ displays: 'display_size' }).count({ n: '*' }).first()) as
        | { bytes: unknown; thumbs: unknown; displays: unknown; n: unknown }
        | undefined;
      return { images: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) + Number(row?.thumbs ?? 0) + Number(row?.displays ?? 0) };
    },
  };
}

export type ImagesRepo = ReturnType<typeof createImagesRepo>;
