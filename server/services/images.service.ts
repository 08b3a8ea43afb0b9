import type { Knex } from 'knex';
import type { ImageRecord, ImagesRepo } from '../db/images.repo.js';
import type { SecurityLogRepo } from '../db/security-log.repo.js';
import { NotFound } from '../http/errors.js';
import { secretMatchesHash } from '../lib/hash.js';
import { isDeleteKey, isImageId } from '../lib/ids.js';
import { allImageKeys } from '../storage/keys.js';
import type { StorageDriver } from '../storage/storage.js';

export type ImagesDeps = {
  db: Knex;
  images: ImagesRepo;
  securityLog: (trx: Knex | Knex.Transaction) => SecurityLogRepo;
  storage: StorageDriver;
  clock: () => Date;
};

/** The image behind a public id, or NotFound. Malformed ids never reach the database. */
export async function findImage(deps: Pick<ImagesDeps, 'images'>, id: string): Promise<ImageRecord> {
  const image = isImageId(id) ? await deps.images.findById(id) : null;
  if (!image) throw new NotFound();
  return image;
}

/** The image if the delete key is right. A wrong key is indistinguishable from a missing image. */
export async function findImageForDeletion(deps: Pick<ImagesDeps, 'images'>, id: string, key: string): Promise<ImageRecord> {
  const image = isImageId(id) && isDeleteKey(key) ? await deps.images.findById(id) : null;
  if (!image || !secretMatchesHash(key, image.deleteKeyHash)) throw new NotFound();
  return image;
}

/** Removes the row first (so nothing is served from that moment), then every stored variant. */
export async function deleteImageWithKey(
  deps: ImagesDeps,
  input: { id: string; key: string; ip: string | undefined; userAgent: string | undefined },
): Promise<void> {
  const image = await findImageForDeletion(deps, input.id, input.key);
  await deps.db.transaction(async (trx) => {
    if (!(await deps.images.deleteById(image.id, trx))) throw new NotFound();
    await deps.securityLog(trx).insert(
      { event: 'image.delete', ip: input.ip, userAgent: input.userAgent, detail: { imageId: image.id, by: 'delete_key' } },
      deps.clock(),
    );
  });
  await Promise.all(allImageKeys(image).map((key) => deps.storage.delete(key)));
}
