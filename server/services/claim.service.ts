import type { ImageRecord } from '../db/images.repo.js';
import { BadRequest, NotFound } from '../errors.js';
import { secretMatchesHash, sha256Hex } from '../lib/hash.js';
import { DELETE_KEY_LENGTH, IMAGE_ID_LENGTH, isDeleteKey, isImageId, newDeleteKey } from '../lib/ids.js';
import type { ImagesDeps } from './images.service.js';
import { storedBytes } from './quota.service.js';
import { reserveUploadStorage } from './upload-policy.service.js';

export type ClaimDeps = Omit<ImagesDeps, 'storage'> & { defaultQuotaBytes: number; unverifiedQuotaBytes: number };

export type ClaimInput = { link?: string; id?: string; key?: string };

export const messages = {
  notALink:
    'That is not a delete link. Paste the whole link you were given after the upload: it ends in /delete/ followed by the image id and a long key.',
  notFound:
    'No unclaimed image matches that delete link. Check that you pasted all of it; an image that was deleted, or already moved into an account, cannot be claimed.',
};

// The path of a delete link, as a full URL or just the path, with an optional trailing slash, query or fragment.
const DELETE_LINK = new RegExp(`/delete/([0-9A-Za-z]{${IMAGE_ID_LENGTH}})/([0-9A-Za-z]{${DELETE_KEY_LENGTH}})/?(?:[?#].*)?$`);

/** The image id and delete key from a pasted link, or from separate id and key fields. */
export function parseClaim(input: ClaimInput): { id: string; key: string } {
  const link = (input.link ?? '').trim();
  if (link) {
    const match = DELETE_LINK.exec(link);
    if (!match) throw new BadRequest(messages.notALink, 'bad_claim_link');
    return { id: match[1]!, key: match[2]! };
  }
  const id = (input.id ?? '').trim();
  const key = (input.key ?? '').trim();
  if (!isImageId(id) || !isDeleteKey(key)) throw new BadRequest(messages.notALink, 'bad_claim_link');
  return { id, key };
}

/**
 * Moves a guest upload into the account that presents its delete key. The quota is reserved and the row updated
 * in one transaction (over quota: 413 and nothing changes). The old key is replaced by the hash of a fresh random
 * key that is never shown, so the guest link can no longer delete an image that now belongs to an account.
 */
export async function claimImage(
  deps: ClaimDeps,
  userId: string,
  input: ClaimInput,
  client: { ip: string | undefined; userAgent: string | undefined },
): Promise<ImageRecord> {
  const { id, key } = parseClaim(input);
  const image = await deps.repos.images.findById(id);
  // A wrong key, a missing image and an image someone already owns all get the same answer.
  if (!image || image.ownerId !== null || !secretMatchesHash(key, image.deleteKeyHash)) throw new NotFound(messages.notFound, 'claim_not_found');
  const retiredKeyHash = sha256Hex(newDeleteKey());
  await deps.repos.transaction(async (tx) => {
    // A claimed image counts like an upload, so claiming guest uploads is no way around the unconfirmed allowance.
    await reserveUploadStorage(tx, userId, storedBytes(image), deps);
    // Conditional on the key and on having no owner: of two concurrent claims, exactly one wins.
    if (!(await tx.images.claim(userId, id, image.deleteKeyHash, retiredKeyHash))) throw new NotFound(messages.notFound, 'claim_not_found');
    await tx.securityLog.insert({ event: 'image.claim', userId, ...client, imageId: id, detail: { imageId: id, size: storedBytes(image) } }, deps.clock());
  });
  return { ...image, ownerId: userId, deleteKeyHash: retiredKeyHash };
}
