import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { ImagesRepo } from '../db/images.repo.js';
import { toDate } from '../db/knex.js';
import type { RecoveryRepo } from '../db/recovery.repo.js';
import type { SecurityLogRepo } from '../db/security-log.repo.js';
import type { UsersRepo } from '../db/users.repo.js';
import { AppError, BadRequest, NotFound } from '../http/errors.js';
import type { SessionsRepo } from '../db/sessions.repo.js';
import type { StorageDriver } from '../storage/storage.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { addToBlocklist, hashesOfImage } from './hash-blocklist.service.js';
import { applyRepeatInfringerPolicy, counterableImageIds, reverseUpheldNotices } from './copyright.service.js';
import { ownerAlbumNotices } from './album-moderation.service.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions, restoreImage } from './recovery.service.js';

/** Why an image can be reported; CSAM and illegal content are shown blurred in the queue until clicked. */
export const REPORT_REASONS = {
  illegal: 'Illegal content',
  csam: 'Child sexual abuse material',
  copyright: 'Copyright infringement',
  harassment: 'Harassment or privacy violation',
  spam: 'Spam',
  other: 'Something else',
} as const;
export type ReportReason = keyof typeof REPORT_REASONS;
export const BLURRED_REASONS: ReadonlySet<string> = new Set(['csam', 'illegal']);

const DETAILS_MAX = 5000;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}\.[^\s@]{2,}$/;

export type CopyrightNotice = { work: string; originalUrl: string; claimant: string; contact: string; goodFaith: boolean; accurate: boolean; signature: string };

const messages = {
  reason: `Choose why you are reporting this image (${Object.keys(REPORT_REASONS).join(', ')}).`,
  details: `Details can be at most ${DETAILS_MAX} characters.`,
  email: 'That email address does not look right. Leave it empty if you do not want an answer.',
  copyright: 'A copyright notice needs the work, where the original is, your name, how to reach you, your signature (your full name), and both statements ticked.',
  reasonNeeded: 'Say why: the uploader is shown this statement of reasons.',
};

/** What a report is about: an image (from its share page) or an album (from the album page). */
export type ReportTarget = { kind: 'image' | 'album'; id: string };
export type ReportInput = { reason: string; details: string; email: string; copyright: Partial<Record<keyof CopyrightNotice, string | boolean>> };

/** Checks and stores a report. The reporter's IP address goes to the security log only. */
export async function submitReport(
  deps: { db: Knex; securityLog: (trx: Knex) => SecurityLogRepo },
  target: ReportTarget,
  input: ReportInput,
  client: { userId: string | null; ip: string | undefined; userAgent: string | undefined },
  now: Date,
): Promise<string> {
  if (!Object.hasOwn(REPORT_REASONS, input.reason)) throw new BadRequest(messages.reason, 'bad_reason');
  const details = input.details.trim();
  if (details.length > DETAILS_MAX) throw new BadRequest(messages.details, 'details_too_long');
  const email = input.email.trim();
  if (email && (email.length > 254 || !EMAIL.test(email))) throw new BadRequest(messages.email, 'bad_email');
  let copyright: CopyrightNotice | null = null;
  if (input.reason === 'copyright') {
    const text = (k: keyof CopyrightNotice) => String(input.copyright[k] ?? '').trim().slice(0, 1000);
    copyright = { work: text('work'), originalUrl: text('originalUrl'), claimant: text('claimant'), contact: text('contact'), signature: text('signature'), goodFaith: input.copyright.goodFaith === true, accurate: input.copyright.accurate === true };
    if (!copyright.work || !copyright.originalUrl || !copyright.claimant || !copyright.contact || !copyright.signature || !copyright.goodFaith || !copyright.accurate) {
      throw new BadRequest(messages.copyright, 'incomplete_notice');
    }
  }
  const id = randomUUID();
  const about = target.kind === 'image' ? { image_id: target.id, album_id: null } : { image_id: null, album_id: target.id };
  await deps.db('reports').insert({ id, ...about, reason: input.reason, details: details || null, reporter_email: email || null, copyright: copyright ? JSON.stringify(copyright) : null, status: 'open', created_at: now });
  await deps.securityLog(deps.db).insert({ event: 'abuse.report', userId: client.userId, ip: client.ip, userAgent: client.userAgent, detail: { reportId: id, [target.kind === 'image' ? 'imageId' : 'albumId']: target.id, reason: input.reason } }, now);
  return id;
}

export type QueueGroup = {
  imageId: string;
  image: { ext: string; ownerId: string | null; moderationState: string | null; title: string } | null;
  reports: Array<{ id: string; reason: string; details: string | null; reporterEmail: string | null; copyright: CopyrightNotice | null; createdAt: Date }>;
  blurred: boolean;
  firstAt: Date;
};

/** Open reports grouped by image, filtered by reason, oldest or newest group first. */
export async function reportQueue(db: Knex, options: { reason?: string; sort: 'oldest' | 'newest' }): Promise<QueueGroup[]> {
  const q = db('reports').where({ status: 'open' }).whereNotNull('image_id').orderBy('created_at', 'asc');
  if (options.reason && Object.hasOwn(REPORT_REASONS, options.reason)) q.andWhere({ reason: options.reason });
  const rows = (await q) as Array<Record<string, unknown>>;
  const groups = new Map<string, QueueGroup>();
  for (const r of rows) {
    const imageId = String(r.image_id);
    let group = groups.get(imageId);
    if (!group) {
      const image = (await db('images').where({ id: imageId }).first()) as Record<string, unknown> | undefined;
      group = {
        imageId,
        image: image ? { ext: String(image.ext), ownerId: (image.owner_id as string | null) ?? null, moderationState: (image.moderation_state as string | null) ?? null, title: String(image.title ?? image.original_name ?? '') } : null,
        reports: [],
        blurred: false,
        firstAt: toDate(r.created_at),
      };
      groups.set(imageId, group);
    }
    group.reports.push({
      id: String(r.id),
      reason: String(r.reason),
      details: (r.details as string | null) ?? null,
      reporterEmail: (r.reporter_email as string | null) ?? null,
      copyright: r.copyright ? (JSON.parse(String(r.copyright)) as CopyrightNotice) : null,
      createdAt: toDate(r.created_at),
    });
    if (BLURRED_REASONS.has(String(r.reason))) group.blurred = true;
  }
  const list = [...groups.values()];
  return options.sort === 'newest' ? list.reverse() : list;
}

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

/** For an account purge: reports filed from the address keep their content, not who filed them. */
export async function anonymiseReports(trx: Knex, email: string): Promise<void> {
  const rows = (await trx('reports').whereRaw('lower(reporter_email) = ?', [email.toLowerCase()]).select('id', 'copyright')) as Array<{ id: string; copyright: string | null }>;
  for (const row of rows) {
    const notice = row.copyright ? { ...(JSON.parse(row.copyright) as CopyrightNotice), claimant: '[erased]', contact: '[erased]', signature: '[erased]' } : null;
    await trx('reports').where({ id: row.id }).update({ reporter_email: null, copyright: notice ? JSON.stringify(notice) : null });
  }
}
