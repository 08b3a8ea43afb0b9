import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ImageRecord, Visibility } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { sanitizeDisplayName } from '../lib/filename.js';
import { sha256Hex } from '../lib/hash.js';
import { newDeleteKey, newImageId } from '../lib/ids.js';
import type { Semaphore } from '../lib/semaphore.js';
import { imageKeys } from '../storage/keys.js';
import type { StorageDriver } from '../storage/storage.js';
import { Unprocessable } from '../errors.js';
import { isBlocked } from './hash-blocklist.service.js';
import { processImage } from './image-processing.service.js';
import { reserveStorage, storedBytes } from './quota.service.js';

export type UploadDeps = {
  repos: Repos;
  /** The quota of accounts whose quota_bytes is null. */
  defaultQuotaBytes: number;
  /** BLOCKLIST_MATCH_DISTANCE: perceptual-hash bits an upload may differ from a blocklisted image and still match. */
  blocklistMatchDistance: number;
  storage: StorageDriver;
  processing: Semaphore;
  logger: Logger;
  clock: () => Date;
  limits: { maxPixels: number; thumbnailSize: number; workDir: string };
};

export type UploadInput = {
  tempPath: string;
  originalName: string | undefined;
  /** The signed-in uploader, whose quota pays for the image; null for a guest. */
  ownerId: string | null;
  ip: string | undefined;
  userAgent: string | undefined;
  /** A guest's chosen deletion time, already checked against the operator's ceiling. */
  expiresAt?: Date | null;
  /** Chosen at upload time (the API); the web page uploads unlisted and untitled. A title comes already cleaned. */
  visibility?: Visibility;
  title?: string | null;
  /** Runs inside the transaction that records the image, after its row (e.g. adding it to an album); a throw undoes the whole upload. */
  inTx?: (tx: Repos, image: ImageRecord) => Promise<void>;
};
export type UploadResult = { image: ImageRecord; deleteKey: string };

// Neutral on purpose: it does not say what matched, so it cannot be used to probe the blocklist for near-misses.
const messages = { refused: 'This image can’t be uploaded here.' };

/**
 * The upload pipeline: validate and re-encode, refuse what the hash blocklist matches (before a byte is stored),
 * store the bytes, then record the row and its security-log entry in one transaction. An account's quota is
 * reserved in that same transaction, so an upload over quota leaves nothing behind. If recording fails the stored
 * bytes are deleted again, so no orphan is left either way.
 */
export async function uploadImage(deps: UploadDeps, input: UploadInput): Promise<UploadResult> {
  const processed = await deps.processing.run(() => processImage(input.tempPath, deps.limits));
  try {
    if (await isBlocked(deps.repos, processed.hashes, deps.blocklistMatchDistance)) {
      await deps.repos.securityLog.insert({ event: 'upload.refused', userId: input.ownerId, ip: input.ip, userAgent: input.userAgent, detail: { cause: 'blocklist' } }, deps.clock());
      throw new Unprocessable(messages.refused, 'upload_refused');
    }
    const id = newImageId();
    const deleteKey = newDeleteKey();
    const image: ImageRecord = {
      id,
      deleteKeyHash: sha256Hex(deleteKey),
      originalName: sanitizeDisplayName(input.originalName),
      mime: processed.type.mime,
      ext: processed.type.ext,
      size: processed.original.size,
      width: processed.original.width,
      height: processed.original.height,
      frames: processed.frames,
      sha256: processed.original.sha256,
      thumbSize: processed.thumbnail.size,
      thumbWidth: processed.thumbnail.width,
      thumbHeight: processed.thumbnail.height,
      thumbSha256: processed.thumbnail.sha256,
      createdAt: deps.clock(),
      ownerId: input.ownerId,
      visibility: input.visibility ?? 'unlisted',
      title: input.title ?? null,
      expiresAt: input.expiresAt ?? null,
      missingSince: null,
      moderationState: null,
      moderationReason: null,
      pixelSha256: processed.hashes.pixelSha256,
      phash: processed.hashes.phash,
    };
    const keys = imageKeys(image);
    try {
      await deps.storage.put(keys.original, createReadStream(processed.original.path), { contentType: image.mime });
      await deps.storage.put(keys.thumbnail, createReadStream(processed.thumbnail.path), { contentType: 'image/webp' });
      await deps.repos.transaction(async (tx) => {
        if (input.ownerId) await reserveStorage(tx, input.ownerId, storedBytes(image), deps.defaultQuotaBytes);
        await tx.images.insert(image);
        await tx.securityLog.insert(
          { event: 'image.upload', userId: input.ownerId, ip: input.ip, userAgent: input.userAgent, imageId: id, detail: { imageId: id, size: image.size } },
          image.createdAt,
        );
        await input.inTx?.(tx, image);
      });
    } catch (err) {
      await Promise.allSettled([deps.storage.delete(keys.original), deps.storage.delete(keys.thumbnail)]);
      throw err;
    }
    return { image, deleteKey };
  } finally {
    await Promise.all([fs.rm(processed.original.path, { force: true }), fs.rm(processed.thumbnail.path, { force: true })]);
  }
}
