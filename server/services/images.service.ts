import { userOf, type Caller } from './caller.js';
import type { Logger } from 'pino';
import type { ImageRecord, ImagesRepo } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { NotFound } from '../errors.js';
import { secretMatchesHash } from '../lib/hash.js';
import { isDeleteKey, isImageId } from '../lib/ids.js';
import type { StorageDriver } from '../storage/storage.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions } from './recovery.service.js';
import { deletedImageEventData, recordWebhookEvent } from './webhook-events.js';

export type ImagesDeps = {
  repos: Repos;
  storage: StorageDriver;
  logger?: Logger;
  clock: () => Date;
};

/** Private images exist only for their owner; everyone else gets the same answer as for a missing image. */
export const canView = (image: Pick<ImageRecord, 'visibility' | 'ownerId'>, caller: Caller): boolean => canViewAs(image, userOf(caller)?.id ?? null);

const canViewAs = (image: Pick<ImageRecord, 'visibility' | 'ownerId'>, viewerId: string | null): boolean =>
  image.visibility !== 'private' || (image.ownerId !== null && image.ownerId === viewerId);

/** Whether an image is served to this caller: its bytes are there, moderators did not hide it, and the caller may see it. */
export const isServable = (image: Pick<ImageRecord, 'visibility' | 'ownerId' | 'missingSince' | 'moderationState'>, caller: Caller): boolean =>
  isServableTo(image, userOf(caller)?.id ?? null);

/** isServable for a viewer known only by user id (null: nobody signed in), as the image fast path resolves it. */
export const isServableTo = (image: Pick<ImageRecord, 'visibility' | 'ownerId' | 'missingSince' | 'moderationState'>, viewerId: string | null): boolean =>
  // Hidden by moderators: not served to anyone (its owner sees why in My images).
  !image.missingSince && image.moderationState !== 'hidden' && canViewAs(image, viewerId);

/** The image behind a public id as this caller may see it, or NotFound. Malformed ids never reach the database. */
export async function findImage(deps: { images: Pick<ImagesRepo, 'findById'> }, id: string, caller: Caller): Promise<ImageRecord> {
  const image = isImageId(id) ? await deps.images.findById(id) : null;
  if (!image || !isServable(image, caller)) throw new NotFound();
  return image;
}

/** The image if the delete key is right. A wrong key is indistinguishable from a missing image. */
export async function findImageForDeletion(deps: Pick<ImagesDeps, 'repos'>, id: string, key: string): Promise<ImageRecord> {
  const image = isImageId(id) && isDeleteKey(key) ? await deps.repos.images.findById(id) : null;
  if (!image || !secretMatchesHash(key, image.deleteKeyHash)) throw new NotFound();
  return image;
}

/**
 * Removes the row first (so nothing is served from that moment), then moves every stored variant to the recovery
 * store. An image uploaded from an account gives its bytes back to that account's quota in the same transaction.
 */
export async function deleteImageWithKey(
  deps: ImagesDeps,
  input: { id: string; key: string; ip: string | undefined; userAgent: string | undefined },
): Promise<void> {
  const image = await findImageForDeletion(deps, input.id, input.key);
  const items = await deps.repos.transaction(async (tx) => {
    if (!(await tx.images.deleteByIdAndKeyHash(image.id, image.deleteKeyHash))) throw new NotFound();
    if (image.ownerId) {
      await releaseStorage(tx, image.ownerId, storedBytes(image));
      await recordWebhookEvent(deps, tx, { type: 'image.deleted', ownerId: image.ownerId, data: deletedImageEventData(image.id) });
    }
    await tx.securityLog.insert(
      { event: 'image.delete', userId: image.ownerId, ip: input.ip, userAgent: input.userAgent, imageId: image.id, detail: { imageId: image.id, by: 'delete_key' } },
      deps.clock(),
    );
    return recordDeletions(tx, [image], 'delete_key', deps.clock());
  });
  await moveToRecovery(deps, items);
}
