import { accountEventData, recordWebhookEvent } from './webhook-events.js';
import { DAY_MS } from '../lib/time.js';
import type { Logger } from 'pino';
import type { ImageRecord } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { emailKey, usernameKey, type UserRecord } from '../db/users.repo.js';
import { BadRequest, ServiceUnavailable } from '../errors.js';
import { sha256Hex } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import type { StorageDriver } from '../storage/storage.js';
import { accountKey } from './auth.service.js';
import { LIMITS } from './rate-limits.service.js';
import { emails } from './emails.js';
import type { Mailer } from './mailer.service.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions, RecoveryGone, recoveryKeyPairs, restoreImage } from './recovery.service.js';

/**
 * Promise 2: a deleted account's personal data is removed within ACCOUNT_PURGE_DAYS. Asking (with the current
 * password) signs out every session and moves every image to the recovery store at once, so nothing of the account
 * is shown any more; the emailed link, or simply logging in, restores it all during the grace period. The purge
 * then erases the account row and everything hanging off it, reaps the images' bytes, and deletes the security-log
 * rows that name the user.
 */
export type AccountDeletionDeps = {
  repos: Repos;
  storage: StorageDriver;
  mailer: Mailer;
  logger: Logger;
  publicUrl: string;
  purgeDays: number;
  clock: () => Date;
};

type Client = { ip: string | undefined; userAgent: string | undefined };

export const purgeDateOf = (requestedAt: Date, purgeDays: number): Date => new Date(requestedAt.getTime() + purgeDays * DAY_MS);

const messages = {
  badToken: 'This link has expired or was already used. If your account still exists, log in to keep it.',
};

/** Every image the owner has, with the albums each is in (kept so a restore puts them back); tx is the transaction. */
async function ownedImagesWithAlbums(tx: Pick<Repos, 'images' | 'albums'>, ownerId: string): Promise<{ images: ImageRecord[]; albums: Map<string, string[]> }> {
  const images = await tx.images.listAllOwned(ownerId);
  const albums = await tx.albums.albumIdsByImage(ownerId, images.map((i) => i.id));
  return { images, albums };
}

/** Called after the password was checked. Returns when the purge will happen. */
export async function requestAccountDeletion(deps: AccountDeletionDeps, user: UserRecord, client: Client, inTx?: (tx: Repos) => Promise<void>): Promise<Date> {
  const now = deps.clock();
  const items = await deps.repos.transaction(async (tx) => {
    if (!(await tx.users.markDeletionRequested(user.id, now))) return null; // already pending: nothing more to do
    await inTx?.(tx); // e.g. the staff member's audit entry, committed with the request or not at all
    await tx.sessions.deleteAllForUser(user.id, {});
    const { images, albums } = await ownedImagesWithAlbums(tx, user.id);
    if (images.length) {
      await tx.images.deleteAllOwned(user.id);
      await releaseStorage(tx, user.id, images.reduce((sum, i) => sum + storedBytes(i), 0));
    }
    await tx.securityLog.insert({ event: 'account.deletion_requested', userId: user.id, ...client, detail: { images: images.length } }, now);
    // The account's own webhooks fall silent with it; the instance's hear that it is going, and when it will be erased.
    await tx.webhooks.disableEndpointsOf(user.id, 'account_deleted', now);
    await recordWebhookEvent(deps, tx, { type: 'account.deleted', ownerId: null, data: accountEventData(user.id, purgeDateOf(now, deps.purgeDays)) });
    return recordDeletions(tx, images, 'account', now, albums);
  });
  const purgeAt = purgeDateOf(user.deletionRequestedAt ?? now, deps.purgeDays);
  if (items) {
    await moveToRecovery(deps, items);
    const token = randomBase62(32);
    await deps.repos.emailTokens.insert({ tokenHash: sha256Hex(token), userId: user.id, purpose: 'cancel_deletion', email: null, createdAt: now, expiresAt: purgeAt });
    const day = purgeAt.toISOString().slice(0, 10);
    setImmediate(() =>
      deps.mailer
        .send(emails.deletionRequested(user.email, user.username, `${deps.publicUrl}/account/keep/${token}`, day))
        .catch((err: unknown) => deps.logger.error({ err }, 'sending an email failed')),
    );
  }
  return purgeAt;
}

const partialRestore = 'Some of your images could not be brought back just now (the image store did not answer). Your account stays scheduled for deletion; please try again in a minute.';

/**
 * Brings every image back (with its albums), then ends the grace period. If the store fails for some image, the
 * account stays pending (so nothing is lost and the purge date holds) and a retry picks up where this stopped.
 */
export async function cancelAccountDeletion(deps: AccountDeletionDeps, userId: string, client: Client): Promise<number> {
  const now = deps.clock();
  const user = await deps.repos.users.findById(userId);
  if (!user?.deletionRequestedAt) return 0;
  let restored = 0;
  let failed = 0;
  for (const item of await deps.repos.recovery.listByOwner(userId, 'account')) {
    try {
      await restoreImage(deps, item.imageId, { userId, ...client }, now);
      restored++;
    } catch (err) {
      deps.logger.warn({ err, imageId: item.imageId }, 'an image could not be restored with its account');
      // Bytes that are gone for good (removed outside Pixbin) must not keep the account from coming back.
      if (!(err instanceof RecoveryGone)) failed++;
    }
  }
  if (failed) throw new ServiceUnavailable(partialRestore, 'restore_incomplete');
  if (!(await deps.repos.users.clearDeletionRequest(userId))) return restored;
  await deps.repos.webhooks.enableEndpointsOf(userId, 'account_deleted', now);
  await deps.repos.emailTokens.invalidateForUser(userId, 'cancel_deletion', now);
  await deps.repos.securityLog.insert({ event: 'account.deletion_cancelled', userId, ...client, detail: { images: restored } }, now);
  return restored;
}

/** The emailed link: works until the purge date, once. */
export async function cancelAccountDeletionWithToken(deps: AccountDeletionDeps, token: string, client: Client): Promise<void> {
  const spent = /^[0-9A-Za-z]{32}$/.test(token) ? await deps.repos.emailTokens.consume(sha256Hex(token), 'cancel_deletion', deps.clock()) : null;
  if (!spent) throw new BadRequest(messages.badToken, 'bad_token');
  await cancelAccountDeletion(deps, spent.userId, client);
}

export const isCancelToken = (token: string): boolean => /^[0-9A-Za-z]{32}$/.test(token);

/**
 * Erases an account now: its images (bytes included, through the recovery store and straight out of it), albums,
 * sessions, tokens and consent records (these go with the row, by foreign key), security-log rows that name it,
 * its API keys and API request log, and its rate-limit counters. Used by the purge job when the grace period
 * ends, and by staff to skip it.
 */
export async function purgeAccount(
  deps: AccountDeletionDeps,
  userId: string,
  now: Date,
  options: { onlyIfPendingSince?: Date; inTx?: (tx: Repos) => Promise<void> } = {},
): Promise<boolean> {
  const user = await deps.repos.users.findById(userId);
  if (!user) return false;
  // The job purges only accounts still pending since before the cut-off: one restored meanwhile is left alone.
  const due = () => !options.onlyIfPendingSince || (user.deletionRequestedAt !== null && user.deletionRequestedAt <= options.onlyIfPendingSince);
  if (!due()) return false;
  // Anything still live (an immediate purge skips the request step) goes through the recovery store as well.
  const items = await deps.repos.transaction(async (tx) => {
    const images = await tx.images.listAllOwned(userId);
    if (images.length) await tx.images.deleteAllOwned(userId);
    return recordDeletions(tx, images, 'account', now);
  });
  const imageIds = [...items.map((i) => i.imageId), ...(await deps.repos.recovery.listByOwner(userId)).map((i) => i.imageId)];
  await moveToRecovery(deps, items);
  for (const item of await deps.repos.recovery.listByOwner(userId)) {
    for (const { live, recovery } of recoveryKeyPairs(item)) {
      await deps.storage.delete(recovery);
      await deps.storage.delete(live);
    }
    await deps.repos.recovery.remove(item.imageId);
  }
  const erased = await deps.repos.transaction(async (tx) => {
    await tx.securityLog.deleteForUser(userId);
    // The API request log carries addresses and has no foreign key; the keys would go with the row, but are
    // deleted here so that nothing depends on the cascade.
    const keyIds = (await tx.apiKeys.listForUser(userId)).map((k) => k.id);
    await tx.apiRequests.deleteAllForUser(userId);
    await tx.apiRequests.deleteForKeys(keyIds);
    await tx.apiKeys.deleteAllForUser(userId);
    // Rows about the account's images that do not name it (the upload of a guest image it later claimed).
    await tx.securityLog.deleteAboutImages(imageIds);
    // A blocklist entry keeps blocking the content, no longer pointing at the account's image.
    await tx.hashBlocklist.forgetSourceImages(imageIds);
    // Records kept for legal reasons stay, without the identity: privacy requests, and reports the person filed.
    await tx.privacyRequests.anonymise(userId, [user.email]);
    await tx.reports.anonymiseReporter(user.email);
    await tx.counterNotices.anonymiseFiler(userId);
    await tx.reports.forgetOwner(userId);
    // A staff account's bans and blocklist entries stay in force without naming who set them.
    await tx.ipBans.forgetCreator(userId);
    await tx.hashBlocklist.forgetCreator(userId);
    // Counters are keyed "<limit>:<value>"; values here are the id, the address, the name as typed or a key id.
    const values = [userId, accountKey(userId), emailKey(user.email), usernameKey(user.username), ...keyIds];
    const keys = Object.keys(LIMITS).flatMap((limit) => values.map((value) => `${limit}:${value}`));
    await tx.rateLimits.deleteKeys(keys);
    // Deleted only while still due: a restore that won the race keeps the account.
    const gone = options.onlyIfPendingSince ? await tx.users.deleteIfPendingSince(userId, options.onlyIfPendingSince) : await tx.users.deleteById(userId);
    if (!gone) throw new PurgeAbandoned();
    // Counted, never named: the log shows that a purge happened, not whose.
    await tx.securityLog.insert({ event: 'account.purged', detail: {} }, now);
    // An account erased without the request step (staff "delete now") is announced here; a requested one was at its request.
    if (!user.deletionRequestedAt) await recordWebhookEvent({ clock: () => now }, tx, { type: 'account.deleted', ownerId: null, data: accountEventData(userId, now) });
    await options.inTx?.(tx); // e.g. the staff member's audit entry, committed with the erasure
    return true;
  }).catch((err: unknown) => {
    if (err instanceof PurgeAbandoned) return false;
    throw err;
  });
  return erased;
}

class PurgeAbandoned extends Error {}
