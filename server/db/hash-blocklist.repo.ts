import type { Knex } from 'knex';
import { inBatches, toDate } from './knex.js';

/** The hash blocklist: content hashes of removed images, matched against every upload on this server. */
export type BlocklistEntry = {
  id: string;
  pixelSha256: string;
  phash: string;
  sourceImageId: string | null;
  reason: string | null;
  createdBy: string | null;
  /** The staff member's current username; null once the account is gone. */
  createdByName: string | null;
  createdAt: Date;
};

export function createHashBlocklistRepo(db: Knex) {
  return {
    /** The entry with exactly these normalised pixels (an indexed lookup), if any. */
    async findIdByPixelHash(pixelSha256: string): Promise<string | null> {
      const row = (await db('hash_blocklist').where({ pixel_sha256: pixelSha256 }).first('id')) as { id: string } | undefined;
      return row?.id ?? null;
    },

    /** Every perceptual hash on the list except `except` (the hash of a flat picture, which matches by pixels only). */
    async perceptualHashes(except: string): Promise<string[]> {
      return (await db('hash_blocklist').whereNot({ phash: except }).pluck('phash')) as string[];
    },

    async insert(entry: Omit<BlocklistEntry, 'createdByName'>): Promise<void> {
      await db('hash_blocklist').insert({
        id: entry.id,
        pixel_sha256: entry.pixelSha256,
        phash: entry.phash,
        source_image_id: entry.sourceImageId,
        reason: entry.reason,
        created_by: entry.createdBy,
        created_at: entry.createdAt,
      });
    },

    /** Every entry, newest first, with its creator's current username. */
    async list(): Promise<BlocklistEntry[]> {
      const rows = (await db('hash_blocklist')
        .leftJoin('users', 'users.id', 'hash_blocklist.created_by')
        .select('hash_blocklist.*', 'users.username as created_by_name')
        .orderBy([
          { column: 'hash_blocklist.created_at', order: 'desc' },
          { column: 'hash_blocklist.id', order: 'desc' },
        ])) as Array<Record<string, unknown>>;
      return rows.map((r) => ({
        id: String(r.id),
        pixelSha256: String(r.pixel_sha256),
        phash: String(r.phash),
        sourceImageId: (r.source_image_id as string | null) ?? null,
        reason: (r.reason as string | null) ?? null,
        createdBy: (r.created_by as string | null) ?? null,
        createdByName: (r.created_by_name as string | null) ?? null,
        createdAt: toDate(r.created_at),
      }));
    },

    /** Deletes the entry; returns what it was made from (null when it was already gone). */
    async delete(id: string): Promise<{ sourceImageId: string | null } | null> {
      const row = (await db('hash_blocklist').where({ id }).first('source_image_id')) as { source_image_id: string | null } | undefined;
      if (!row || !(await db('hash_blocklist').where({ id }).delete())) return null;
      return { sourceImageId: row.source_image_id };
    },

    /** For an account purge: entries keep blocking, no longer naming the staff member who added them. */
    async forgetCreator(userId: string): Promise<void> {
      await db('hash_blocklist').where({ created_by: userId }).update({ created_by: null });
    },

    /** For an account purge: entries keep blocking the content, no longer pointing at the account's images. */
    async forgetSourceImages(imageIds: readonly string[]): Promise<void> {
      for (const batch of inBatches(imageIds)) await db('hash_blocklist').whereIn('source_image_id', batch).update({ source_image_id: null });
    },
  };
}

export type HashBlocklistRepo = ReturnType<typeof createHashBlocklistRepo>;
