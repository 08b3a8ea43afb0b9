import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { BlocklistEntry } from '../db/hash-blocklist.repo.js';
import type { ImageRecord } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { NotFound, Unprocessable } from '../errors.js';
import { contentHashes, FLAT_PHASH, hammingDistance, type ContentHashes } from '../lib/perceptual-hash.js';
import { imageKeys } from '../storage/keys.js';
import { StorageUnavailable, type StorageDriver } from '../storage/storage.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';

/**
 * The hash blocklist: content hashes of removed images, matched against every upload. Hashes are computed and
 * compared on this server; nothing is sent anywhere. An entry stays until an admin or moderator removes it.
 */
export type { BlocklistEntry };

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
export async function isBlocked(repos: Pick<Repos, 'hashBlocklist'>, hashes: ContentHashes, maxDistance: number): Promise<boolean> {
  if (await repos.hashBlocklist.findIdByPixelHash(hashes.pixelSha256)) return true;
  // A single-colour picture has no perceptual hash worth comparing: it only matches by its exact pixels.
  if (hashes.phash === FLAT_PHASH) return false;
  return (await repos.hashBlocklist.perceptualHashes(FLAT_PHASH)).some((phash) => hammingDistance(phash, hashes.phash) <= maxDistance);
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

/** Adds an entry (inside the removal's transaction); an image whose exact hash is already listed keeps the entry it has. */
export async function addToBlocklist(
  tx: Pick<Repos, 'hashBlocklist'>,
  entry: { hashes: ContentHashes; sourceImageId: string | null; reason: string | null; createdBy: string | null },
  now: Date,
): Promise<string> {
  const existing = await tx.hashBlocklist.findIdByPixelHash(entry.hashes.pixelSha256);
  if (existing) return existing;
  const id = randomUUID();
  await tx.hashBlocklist.insert({ id, pixelSha256: entry.hashes.pixelSha256, phash: entry.hashes.phash, sourceImageId: entry.sourceImageId, reason: entry.reason, createdBy: entry.createdBy, createdAt: now });
  return id;
}

/** Every entry, newest first. */
export async function listBlocklist(repos: Pick<Repos, 'hashBlocklist'>): Promise<BlocklistEntry[]> {
  return repos.hashBlocklist.list();
}

/** Deletes an entry (the image can be uploaded again) and writes the audit entry, in one transaction. */
export async function removeFromBlocklist(repos: Repos, actor: StaffActor, id: string, reason: string, now: Date): Promise<void> {
  await repos.transaction(async (tx) => {
    const removed = await tx.hashBlocklist.delete(id);
    if (!removed) throw new NotFound(messages.gone);
    await recordStaffAction(tx, actor, { action: 'blocklist.remove', targetType: 'blocklist', targetId: id, reason: reason.trim() || null, detail: { sourceImageId: removed.sourceImageId } }, now);
  });
}
