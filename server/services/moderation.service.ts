import type { Knex } from 'knex';
import type { ImagesRepo } from '../db/images.repo.js';
import { toDate } from '../db/knex.js';
import type { RecoveryRepo } from '../db/recovery.repo.js';
import type { SecurityLogRepo } from '../db/security-log.repo.js';
import type { UsersRepo } from '../db/users.repo.js';
import { AppError, BadRequest, NotFound } from '../errors.js';
import type { SessionsRepo } from '../db/sessions.repo.js';
import type { StorageDriver } from '../storage/storage.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { addToBlocklist, hashesOfImage } from './hash-blocklist.service.js';
import { applyRepeatInfringerPolicy, counterableImageIds, reverseUpheldNotices } from './copyright.service.js';
import { ownerAlbumNotices } from './album-moderation.service.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions, restoreImage } from './recovery.service.js';

const messages = {
  reasonNeeded: 'Say why: the uploader is shown this statement of reasons.',
};

export const MODERATION_ACTIONS = ['dismiss', 'sensitive', 'hide', 'clear', 'remove', 'restore'] as const;
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];
/** Actions that destroy (need a fresh password). */
export const DESTRUCTIVE_ACTIONS: ReadonlySet<string> = new Set(['remove']);

export type ModerationDeps = {
  db: Knex;
  images: ImagesRepo;
  users: UsersRepo;
  recovery: RecoveryRepo;
  storage: StorageDriver;
  securityLog: (trx: Knex | Knex.Transaction) => SecurityLogRepo;
  sessions: SessionsRepo;
  repeatInfringer: { strikes: number; windowDays: number };
};

/** blocklist: with remove, also put the image's content hashes on the hash blocklist. */
export type ModerationOptions = { blocklist?: boolean };

/** Applies one decision to one image, resolves its open reports, and writes the audit entry. */
export async function moderateImage(deps: ModerationDeps, actor: StaffActor, imageId: string, action: string, reasonInput: string, now: Date, options: ModerationOptions = {}): Promise<void> {
  if (!(MODERATION_ACTIONS as readonly string[]).includes(action)) throw new BadRequest(`The action must be one of ${MODERATION_ACTIONS.join(', ')}.`, 'bad_action');
  const reason = reasonInput.trim().slice(0, 2000);
  if (['sensitive', 'hide', 'remove'].includes(action) && !reason) throw new BadRequest(messages.reasonNeeded, 'reason_required');
  // The uploader is kept on each resolved report: upheld copyright notices are strikes against the account.
  const uploader = ((await deps.db('images').where({ id: imageId }).first('owner_id')) as { owner_id: string | null } | undefined)?.owner_id ?? null;
  const resolve = async (trx: Knex, status: 'actioned' | 'dismissed') =>
    trx('reports').where({ image_id: imageId, status: 'open' }).update({ status, resolved_at: now, resolution: action, owner_id: uploader });

  if (action === 'restore') {
    const item = await deps.recovery.find(imageId);
    if (item) await restoreImage(deps, imageId, { userId: actor.user.id, ip: actor.ip, userAgent: actor.userAgent }, now);
    else if (!(await deps.db('images').where({ id: imageId }).update({ moderation_state: null, moderation_reason: null, moderated_at: now }))) throw new NotFound();
    await reverseUpheldNotices(deps.db, imageId);
  } else if (action === 'remove') {
    const image = await deps.images.findById(imageId);
    if (!image) throw new NotFound('That image is already gone.');
    // Before the transaction: an image without stored hashes is hashed from its original, which moves below.
    const hashes = options.blocklist ? await hashesOfImage(deps.storage, image) : null;
    const items = await deps.db.transaction(async (trx) => {
      if (!(await deps.images.deleteById(imageId, trx))) throw new NotFound('That image is already gone.');
      if (hashes) await addToBlocklist(trx, { hashes, sourceImageId: imageId, reason, createdBy: actor.user.id }, now);
      if (image.ownerId) await releaseStorage(deps, image.ownerId, storedBytes(image), trx);
      const recorded = await recordDeletions(deps, [image], 'moderation', now, trx);
      await trx('recovery_items').where({ image_id: imageId }).update({ statement: reason });
      await resolve(trx, 'actioned');
      return recorded;
    });
    await moveToRecovery(deps, items);
  } else if (action === 'dismiss') {
    await resolve(deps.db, 'dismissed');
  } else {
    const state = action === 'sensitive' ? 'sensitive' : action === 'hide' ? 'hidden' : null;
    const updated = await deps.db('images').where({ id: imageId }).update({ moderation_state: state, moderation_reason: state ? reason : null, moderated_at: now });
    if (!updated) throw new NotFound();
    await resolve(deps.db, 'actioned');
    if (action === 'clear') await reverseUpheldNotices(deps.db, imageId);
  }
  const detail = action === 'remove' && options.blocklist ? { blocklisted: true } : undefined;
  await recordStaffAction(deps.db, actor, { action: `image.${action}`, targetType: 'image', targetId: imageId, reason: reason || null, detail }, now);
  if (uploader && (action === 'hide' || action === 'remove')) await applyRepeatInfringerPolicy(deps, actor, uploader, now);
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
export async function removalStatement(db: Knex, imageId: string): Promise<{ statement: string; at: Date; ownerId: string | null; deleteKeyHash: string } | null> {
  const row = (await db('recovery_items').where({ image_id: imageId, reason: 'moderation' }).first()) as Record<string, unknown> | undefined;
  if (!row) return null;
  const record = JSON.parse(String(row.record)) as { deleteKeyHash: string };
  return { statement: String(row.statement ?? ''), at: toDate(row.deleted_at), ownerId: (row.owner_id as string | null) ?? null, deleteKeyHash: record.deleteKeyHash };
}

/**
 * The statement of reasons for every decision about the holder's content: hidden or sensitive images, removed
 * ones still on record, and hidden albums. An upheld copyright notice can be answered with a counter-notice.
 */
export async function ownerModerationNotices(db: Knex, ownerId: string) {
  const flagged = (await db('images').where({ owner_id: ownerId }).whereNotNull('moderation_state').select('id', 'moderation_state', 'moderation_reason', 'moderated_at')) as Array<Record<string, unknown>>;
  const removed = (await db('recovery_items').where({ owner_id: ownerId, reason: 'moderation' }).select('image_id', 'statement', 'deleted_at')) as Array<Record<string, unknown>>;
  const counterable = new Set(await counterableImageIds(db, ownerId));
  const image = (id: string, action: string, reason: unknown, at: unknown) => ({ imageId: id, albumId: null, action, reason: String(reason ?? ''), at: toDate(at), canCounter: counterable.has(id) });
  return [
    ...flagged.map((r) => image(String(r.id), r.moderation_state === 'hidden' ? 'hidden' : 'marked sensitive', r.moderation_reason, r.moderated_at)),
    ...removed.map((r) => image(String(r.image_id), 'removed', r.statement, r.deleted_at)),
    ...(await ownerAlbumNotices(db, ownerId)).map((a) => ({ imageId: null, albumId: a.albumId, action: 'hidden', reason: a.reason, at: a.at, canCounter: false })),
  ].sort((a, b) => b.at.getTime() - a.at.getTime());
}
