import type { Logger } from 'pino';
import type { Repos } from '../db/repos.js';
import { AppError, BadRequest, NotFound } from '../errors.js';
import type { StorageDriver } from '../storage/storage.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { addToBlocklist, hashesOfImage } from './hash-blocklist.service.js';
import { applyRepeatInfringerPolicy, counterableImageIds } from './copyright.service.js';
import { ownerAlbumNotices } from './album-moderation.service.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions, restoreImage } from './recovery.service.js';
import { deletedImageEventData, moderationEventData, recordWebhookEvent } from './webhook-events.js';

const messages = {
  badAction: () => `The action must be one of ${MODERATION_ACTIONS.join(', ')}.`,
  reasonNeeded: 'Say why: the uploader is shown this statement of reasons.',
  gone: 'That image is already gone.',
};

export const MODERATION_ACTIONS = ['dismiss', 'sensitive', 'hide', 'clear', 'remove', 'restore'] as const;
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];
/** Actions that destroy (need a fresh password). */
export const DESTRUCTIVE_ACTIONS: ReadonlySet<string> = new Set(['remove']);

export type ModerationDeps = {
  repos: Repos;
  storage: StorageDriver;
  logger?: Logger;
  repeatInfringer: { strikes: number; windowDays: number };
};

/** blocklist: with remove, also put the image's content hashes on the hash blocklist. */
export type ModerationOptions = { blocklist?: boolean };

/**
 * Applies one decision to one image, resolves its open reports, and writes the audit entry: the decision, the
 * reports and the audit entry commit (or roll back) together. Bytes move only after the commit.
 */
export async function moderateImage(deps: ModerationDeps, actor: StaffActor, imageId: string, action: string, reasonInput: string, now: Date, options: ModerationOptions = {}): Promise<void> {
  if (!(MODERATION_ACTIONS as readonly string[]).includes(action)) throw new BadRequest(messages.badAction(), 'bad_action');
  const reason = reasonInput.trim().slice(0, 2000);
  if (['sensitive', 'hide', 'remove'].includes(action) && !reason) throw new BadRequest(messages.reasonNeeded, 'reason_required');
  const image = await deps.repos.images.findById(imageId);
  // The uploader is kept on each resolved report: upheld copyright notices are strikes against the account.
  const uploader = image?.ownerId ?? null;
  const detail = action === 'remove' && options.blocklist ? { blocklisted: true } : undefined;
  // Every decision is written with its audit entry, and the instance's webhooks hear it from the same transaction.
  const audit = async (tx: Repos) => {
    const entry = await recordStaffAction(tx, actor, { action: `image.${action}`, targetType: 'image', targetId: imageId, reason: reason || null, detail }, now);
    await recordWebhookEvent({ clock: () => now }, tx, { type: 'moderation.decided', ownerId: null, data: moderationEventData({ kind: 'image', id: imageId }, action) });
    return entry;
  };
  const resolve = (tx: Repos, status: 'actioned' | 'dismissed') => tx.reports.resolveOpen({ kind: 'image', id: imageId }, { status, resolution: action, ownerId: uploader, at: now });

  if (action === 'restore') {
    await restore(deps, actor, imageId, now, audit);
  } else if (action === 'remove') {
    if (!image) throw new NotFound(messages.gone);
    // Before the transaction: an image without stored hashes is hashed from its original, which moves below.
    const hashes = options.blocklist ? await hashesOfImage(deps.storage, image) : null;
    const items = await deps.repos.transaction(async (tx) => {
      if (!(await tx.images.deleteById(imageId))) throw new NotFound(messages.gone);
      if (hashes) await addToBlocklist(tx, { hashes, sourceImageId: imageId, reason, createdBy: actor.user.id }, now);
      if (image.ownerId) {
        await releaseStorage(tx, image.ownerId, storedBytes(image));
        await recordWebhookEvent({ clock: () => now }, tx, { type: 'image.deleted', ownerId: image.ownerId, data: deletedImageEventData(imageId) });
      }
      const recorded = await recordDeletions(tx, [image], 'moderation', now);
      await tx.recovery.setStatement(imageId, reason);
      await resolve(tx, 'actioned');
      await audit(tx);
      return recorded;
    });
    await moveToRecovery(deps, items);
  } else if (action === 'dismiss') {
    await deps.repos.transaction(async (tx) => {
      await resolve(tx, 'dismissed');
      await audit(tx);
    });
  } else {
    const state = action === 'sensitive' ? 'sensitive' : action === 'hide' ? 'hidden' : null;
    await deps.repos.transaction(async (tx) => {
      if (!(await tx.images.setModeration(imageId, { state, reason: reason || null, at: now }))) throw new NotFound();
      await resolve(tx, 'actioned');
      if (action === 'clear') await tx.reports.reverseUpheldCopyright(imageId);
      await audit(tx);
    });
  }
  if (uploader && (action === 'hide' || action === 'remove')) await applyRepeatInfringerPolicy(deps, actor, uploader, now);
}

/**
 * Puts an image back: from the recovery store when moderators removed it, else by clearing its moderation state.
 * Its upheld copyright notices stop counting, in the same transaction as the restore and its audit entry; the
 * bytes move before that transaction (restoreImage moves them back should it fail), so none is held open meanwhile.
 */
async function restore(deps: ModerationDeps, actor: StaffActor, imageId: string, now: Date, audit: (tx: Repos) => Promise<string>): Promise<void> {
  const undone = async (tx: Repos) => {
    await tx.reports.reverseUpheldCopyright(imageId);
    await audit(tx);
  };
  const item = await deps.repos.recovery.find(imageId);
  if (item) {
    // Staff put back what moderators removed, never what its owner (or an expiry, or an account deletion) deleted.
    if (item.reason !== 'moderation') throw new NotFound();
    await restoreImage(deps, imageId, { userId: actor.user.id, ip: actor.ip, userAgent: actor.userAgent }, now, undone);
    return;
  }
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.images.setModeration(imageId, { state: null, reason: null, at: now }))) throw new NotFound();
    await undone(tx);
  });
}

/** Bulk decisions: the same action and reason for each image, one at a time; returns what failed and why. */
export async function moderateImages(deps: ModerationDeps, actor: StaffActor, imageIds: string[], action: string, reason: string, now: Date, options: ModerationOptions = {}) {
  const failed: Array<{ imageId: string; error: string }> = [];
  for (const imageId of imageIds) {
    try {
      await moderateImage(deps, actor, imageId, action, reason, now, options);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // A bad action or missing reason fails the same way for every image: say it once.
      if (err.code === 'bad_action' || err.code === 'reason_required') throw err;
      failed.push({ imageId, error: err.message });
    }
  }
  return { done: imageIds.length - failed.length, failed };
}

/** A statement of reasons for an image moderators removed: shown to its owner, or on the guest's delete-link page. */
export async function removalStatement(repos: Pick<Repos, 'recovery'>, imageId: string): Promise<{ statement: string; at: Date; ownerId: string | null; deleteKeyHash: string } | null> {
  const item = await repos.recovery.find(imageId);
  if (item?.reason !== 'moderation') return null;
  return { statement: (await repos.recovery.statementOf(imageId)) ?? '', at: item.deletedAt, ownerId: item.ownerId, deleteKeyHash: item.record.deleteKeyHash };
}

/**
 * The statement of reasons for every decision about the holder's content: hidden or sensitive images, removed
 * ones still on record, and hidden albums. An upheld copyright notice can be answered with a counter-notice.
 */
export async function ownerModerationNotices(repos: Pick<Repos, 'images' | 'recovery' | 'reports' | 'albums'>, ownerId: string) {
  const flagged = await repos.images.listModeratedByOwner(ownerId);
  const removed = await repos.recovery.listModerationStatements(ownerId);
  const counterable = new Set(await counterableImageIds(repos, ownerId));
  const image = (id: string, action: string, reason: string | null, at: Date) => ({ imageId: id, albumId: null, action, reason: reason ?? '', at, canCounter: counterable.has(id) });
  return [
    ...flagged.map((i) => image(i.id, i.state === 'hidden' ? 'hidden' : 'marked sensitive', i.reason, i.at)),
    ...removed.map((r) => image(r.imageId, 'removed', r.statement, r.deletedAt)),
    ...(await ownerAlbumNotices(repos, ownerId)).map((a) => ({ imageId: null, albumId: a.albumId, action: 'hidden', reason: a.reason, at: a.at, canCounter: false })),
  ].sort((a, b) => b.at.getTime() - a.at.getTime());
}
