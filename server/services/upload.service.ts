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
import { ReservationLost, trackWrites } from './storage-cleanup.service.js';
import { NO_METRICS, secondsSince, type Metrics } from '../metrics/types.js';
import { AppError, Forbidden, messages as errorMessages, NotFound, ServiceUnavailable, Unprocessable } from '../errors.js';
import { isBlocked } from './hash-blocklist.service.js';
import { processImage } from './image-processing.service.js';
import { storedBytes } from './quota.service.js';
import { assertMayUpload, reserveUploadStorage } from './upload-policy.service.js';
import { assertNotBanned } from './ip-bans.service.js';
import type { RateLimits } from './rate-limits.service.js';
import type { UserRecord } from '../db/users.repo.js';
import { imageEventData, recordWebhookEvent } from './webhook-events.js';

export type UploadDeps = {
  repos: Repos;
  /** The quota of accounts whose quota_bytes is null. */
  defaultQuotaBytes: number;
  /** UNVERIFIED_QUOTA_BYTES: what an account may store until its email address is confirmed (upload-policy.service). */
  unverifiedQuotaBytes: number;
  /** BLOCKLIST_MATCH_DISTANCE: perceptual-hash bits an upload may differ from a blocklisted image and still match. */
  blocklistMatchDistance: number;
  storage: StorageDriver;
  processing: Semaphore;
  logger: Logger;
  clock: () => Date;
  /** PUBLIC_URL, for the URLs in the image.uploaded event. */
  publicUrl: string;
  limits: { maxPixels: number; thumbnailSize: number; displayMaxPx: number; workDir: string };
  /** Uploads by result and processing time (metrics/types.ts); none when metrics are off. */
  metrics?: Pick<Metrics, 'uploadFinished' | 'imageProcessed'>;
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
  /** One of the owner's albums to put the image in, in the same transaction (the API); a missing album is a 404. */
  albumId?: string;
  /** The link an upload by URL came from, only when its uploader chose to keep it (url-upload.service.ts). */
  sourceUrl?: string | null;
};
export type UploadResult = { image: ImageRecord; deleteKey: string };

// Neutral on purpose: it does not say what matched, so it cannot be used to probe the blocklist for near-misses.
const messages = {
  refused: 'This image can’t be uploaded here.',
  pendingDeletion: 'Your account is waiting to be deleted, so it cannot upload. Restore it on /account/restore first.',
};

/**
 * The gate before an upload's body is read, the same for the web page and the API: an account waiting for its
 * purge cannot upload; the rate limit (per account, or per address for a guest); an account already full, or one
 * that must confirm its email address first, is told at once; then address bans, after the limits so a banned
 * client cannot fill the security log with refusals.
 */
export async function admitUpload(
  deps: Pick<UploadDeps, 'repos' | 'clock' | 'defaultQuotaBytes' | 'unverifiedQuotaBytes'>,
  limits: RateLimits,
  who: { user: UserRecord | null; ip: string | undefined; userAgent: string | undefined },
): Promise<void> {
  const { user } = who;
  if (user?.deletionRequestedAt) throw new Forbidden(messages.pendingDeletion, 'account_pending_deletion');
  if (user) {
    await limits.consume('uploadPerAccount', user.id);
    assertMayUpload(user, deps);
  } else {
    await limits.consume('uploadPerIp', who.ip ?? 'unknown');
  }
  await assertNotBanned(deps.repos, { ip: who.ip, userAgent: who.userAgent, userId: user?.id ?? null }, deps.clock());
}

/**
 * The upload pipeline: validate and re-encode, refuse what the hash blocklist matches (before a byte is stored),
 * store the bytes, then record the row and its security-log entry in one transaction. An account's quota is
 * reserved in that same transaction, so an upload over quota leaves nothing behind. If recording fails the stored
 * bytes are deleted again, so no orphan is left either way; if the process dies before recording, the keys it
 * reserved before the first write are deleted by the storage-cleanup job once the reservation comes due.
 */
export async function uploadImage(deps: UploadDeps, input: UploadInput): Promise<UploadResult> {
  const metrics = deps.metrics ?? NO_METRICS;
  try {
    const result = await storeUpload(deps, input, metrics);
    metrics.uploadFinished('created');
    return result;
  } catch (err) {
    // Refused: the uploader's file or request (a 4xx); failed: the server could not finish it.
    const refused = err instanceof AppError && !['internal', 'unavailable', 'insufficient_storage'].includes(err.kind);
    metrics.uploadFinished(refused ? 'refused' : 'failed');
    throw err;
  }
}

async function storeUpload(deps: UploadDeps, input: UploadInput, metrics: Pick<Metrics, 'imageProcessed'>): Promise<UploadResult> {
  // Checked before the work, so a wrong album costs nothing; checked again when the image joins it.
  if (input.albumId && !(input.ownerId && (await deps.repos.albums.findForOwner(input.ownerId, input.albumId)))) throw new NotFound();
  const processed = await deps.processing.run(async () => {
    const started = process.hrtime.bigint();
    const result = await processImage(input.tempPath, deps.limits);
    metrics.imageProcessed(secondsSince(started));
    return result;
  });
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
      displaySize: processed.display.size,
      displayWidth: processed.display.width,
      displayHeight: processed.display.height,
      displaySha256: processed.display.sha256,
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
      sourceUrl: input.sourceUrl ?? null,
    };
    const keys = imageKeys(image);
    const writes = trackWrites(deps.storage);
    try {
      // Before the first write: if this process dies before the insert, the storage-cleanup job deletes the keys
      // once the reservation comes due (storage-cleanup.service.ts, UPLOAD_RESERVATION_MS).
      await writes.reserve(deps, [keys.original, keys.thumbnail, keys.display]);
      await writes.put(keys.original, createReadStream(processed.original.path), { contentType: image.mime });
      await writes.put(keys.thumbnail, createReadStream(processed.thumbnail.path), { contentType: 'image/webp' });
      await writes.put(keys.display, createReadStream(processed.display.path), { contentType: 'image/webp' });
      await deps.repos.transaction(async (tx) => {
        // The keys become the row's: fails (and rolls back) if the cleanup job claimed them, as for an upload that died.
        await writes.release(tx);
        if (input.ownerId) await reserveUploadStorage(tx, input.ownerId, storedBytes(image), deps);
        await tx.images.insert(image);
        await tx.securityLog.insert(
          { event: 'image.upload', userId: input.ownerId, ip: input.ip, userAgent: input.userAgent, imageId: id, detail: { imageId: id, size: image.size } },
          image.createdAt,
        );
        if (input.albumId && !(await tx.albums.addImages(input.ownerId!, input.albumId, [id], image.createdAt))) throw new NotFound();
        // The owner's webhooks hear of it only if the row commits (the outbox).
        if (input.ownerId) await recordWebhookEvent(deps, tx, { type: 'image.uploaded', ownerId: input.ownerId, data: imageEventData(deps.publicUrl, image) });
      });
    } catch (err) {
      // Deletes what was stored; what the store cannot delete now (or may store late) goes to the storage-cleanup job.
      await writes.undo(deps, err);
      if (err instanceof ReservationLost) {
        deps.logger.error({ err, imageId: id }, 'an upload outlived its reservation: the storage-cleanup job claimed its keys before the insert; the upload failed');
        // To the client, a store too slow to finish in time: the same answer as one that does not answer.
        throw new ServiceUnavailable(errorMessages.storageUnavailable, 'storage_unavailable', 30);
      }
      throw err;
    }
    return { image, deleteKey };
  } finally {
    await Promise.all([processed.original, processed.thumbnail, processed.display].map((variant) => fs.rm(variant.path, { force: true })));
  }
}
