import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import type { ImageRecord } from '../db/images.repo.js';
import { toDate } from '../db/knex.js';
import { NotFound, Unprocessable } from '../errors.js';
import { contentHashes, FLAT_PHASH, hammingDistance, type ContentHashes } from '../lib/perceptual-hash.js';
import { imageKeys } from '../storage/keys.js';
import { StorageUnavailable, type StorageDriver } from '../storage/storage.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';

/**
 * The hash blocklist: content hashes of removed images, matched against every upload. Hashes are computed and
 * compared on this server; nothing is sent anywhere. An entry stays until an admin or moderator removes it.
 */
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

const messages = {
  gone: 'That blocklist entry is already gone.',
  unreadable: 'The stored file of this image could not be read, so its hashes cannot go on the blocklist. Remove it without the blocklist tick.',
};

// Stored originals passed MAX_IMAGE_PIXELS when uploaded; this only guards against a corrupt header.
const STORED_MAX_PIXELS = 1_000_000_000;

/**
 * Whether an upload matches an entry: the same normalised pixels, or a perceptual hash at most maxDistance bits
 * away. The exact match uses an index; the perceptual one scans every entry (16 bytes each, a few milliseconds
 * per ten thousand entries), which is fine for the hundreds to thousands of entries a site collects.
 */
export async function isBlocked(db: Knex, hashes: ContentHashes, maxDistance: number): Promise<boolean> {
  if (await db('hash_blocklist').where({ pixel_sha256: hashes.pixelSha256 }).first('id')) return true;
  // A single-colour picture has no perceptual hash worth comparing: it only matches by its exact pixels.
  if (hashes.phash === FLAT_PHASH) return false;
  const rows = (await db('hash_blocklist').whereNot({ phash: FLAT_PHASH }).select('phash')) as Array<{ phash: string }>;
  return rows.some((r) => hammingDistance(r.phash, hashes.phash) <= maxDistance);
}

/**
 * The hashes of an image about to be removed: from its row, or, for an image uploaded before hashes were
 * computed, from its stored original (so this must run before the bytes move to the recovery store).
 */
export async function hashesOfImage(storage: StorageDriver, image: ImageRecord): Promise<ContentHashes> {
  if (image.pixelSha256 && image.phash) return { pixelSha256: image.pixelSha256, phash: image.phash };
  try {
    // The OS temp folder: moderation has no upload folder, and the pixel file is removed on every path.
    return await contentHashes(await storage.get(imageKeys(image).original), { maxPixels: STORED_MAX_PIXELS, workDir: os.tmpdir() });
  } catch (err) {
    // An outage is a 503 to retry, not a reason to remove without the blocklist.
    if (err instanceof StorageUnavailable) throw err;
    throw new Unprocessable(messages.unreadable, 'blocklist_unreadable');
  }
}

/** Adds an entry; an image whose exact hash is already listed keeps the entry it has. */
export async function addToBlocklist(
  db: Knex,
  entry: { hashes: ContentHashes; sourceImageId: string | null; reason: string | null; createdBy: string | null },
  now: Date,
): Promise<string> {
  const existing = (await db('hash_blocklist').where({ pixel_sha256: entry.hashes.pixelSha256 }).first('id')) as { id: string } | undefined;
  if (existing) return existing.id;
  const id = randomUUID();
  await db('hash_blocklist').insert({
    id,
    pixel_sha256: entry.hashes.pixelSha256,
    phash: entry.hashes.phash,
    source_image_id: entry.sourceImageId,
    reason: entry.reason,
    created_by: entry.createdBy,
    created_at: now,
  });
  return id;
}

/** Every entry, newest first. */
export async function listBlocklist(db: Knex): Promise<BlocklistEntry[]> {
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
}

/** Deletes an entry (the image can be uploaded again) and writes the audit entry. */
export async function removeFromBlocklist(db: Knex, actor: StaffActor, id: string, reason: string, now: Date): Promise<void> {
  const row = (await db('hash_blocklist').where({ id }).first('source_image_id')) as { source_image_id: string | null } | undefined;
  if (!row || !(await db('hash_blocklist').where({ id }).delete())) throw new NotFound(messages.gone);
  await recordStaffAction(db, actor, { action: 'blocklist.remove', targetType: 'blocklist', targetId: id, reason: reason.trim() || null, detail: { sourceImageId: row.source_image_id } }, now);
}
