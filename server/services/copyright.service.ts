import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { SessionsRepo } from '../db/sessions.repo.js';
import type { UsersRepo } from '../db/users.repo.js';
import { toDate } from '../db/knex.js';
import { BadRequest, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { suspendUser } from './suspension.service.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Decisions that uphold a notice: the image stops being served. Marking it sensitive does not. */
const UPHOLDING = ['hide', 'remove'];

const messages = {
  incomplete: 'A counter-notice needs your name, how to reach you, your statement, your signature (your full name) and both statements ticked.',
  notYours: 'There is no upheld copyright notice about an image of yours with that id.',
  already: 'A counter-notice about this image is already waiting for a decision.',
  status: 'The decision must be accept or reject.',
  decided: 'That counter-notice has already been decided.',
};

/**
 * Strikes: images of the account taken down (hidden or removed) on a copyright notice within the policy window.
 * One image is one strike however many notices named it, so piling reports on an image cannot suspend anyone.
 * Notices reversed (a counter-notice accepted, or the image put back) no longer count.
 */
export async function countStrikes(db: Knex, userId: string, now: Date, windowDays: number): Promise<number> {
  const row = (await db('reports')
    .where({ owner_id: userId, reason: 'copyright', status: 'actioned' })
    .whereNotNull('image_id')
    .whereIn('resolution', UPHOLDING)
    .andWhere('resolved_at', '>', new Date(now.getTime() - windowDays * DAY_MS))
    .countDistinct({ n: 'image_id' })
    .first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/** The image is back (restored, unhidden, or a counter-notice accepted): its upheld notices stop counting. */
export async function reverseUpheldNotices(db: Knex, imageId: string): Promise<void> {
  await db('reports').where({ image_id: imageId, reason: 'copyright', status: 'actioned' }).update({ status: 'reversed' });
}

type PolicyDeps = { db: Knex; users: UsersRepo; sessions: SessionsRepo; repeatInfringer: { strikes: number; windowDays: number } };

/**
 * The repeat-infringer policy: REPEAT_INFRINGER_STRIKES upheld notices within REPEAT_INFRINGER_WINDOW_DAYS
 * suspend an ordinary account (staff accounts are left to an admin). Recorded as the deciding moderator's action.
 */
export async function applyRepeatInfringerPolicy(deps: PolicyDeps, actor: StaffActor, userId: string, now: Date): Promise<boolean> {
  const { strikes, windowDays } = deps.repeatInfringer;
  if (strikes === 0) return false;
  const user = await deps.users.findById(userId);
  if (!user || user.role !== 'user' || user.suspendedAt) return false;
  const count = await countStrikes(deps.db, userId, now, windowDays);
  if (count < strikes) return false;
  const reason = `Repeat copyright infringement: ${count} copyright notices about your images were upheld within ${windowDays} days.`;
  // The policy acts with a moderator's rights, whoever applied the decision: only ordinary accounts.
  await suspendUser(deps, { ...actor, user: { ...actor.user, role: 'moderator' } }, userId, reason, now, { policy: 'repeat_infringer', strikes: count });
  return true;
}

/** The holder's images with an upheld copyright notice and no counter-notice waiting or refused. */
export async function counterableImageIds(db: Knex, ownerId: string): Promise<string[]> {
  return (await db('reports')
    .where({ owner_id: ownerId, reason: 'copyright', status: 'actioned' })
    .whereNotNull('image_id')
    .whereIn('resolution', UPHOLDING)
    .whereNotExists(db('counter_notices').whereRaw('counter_notices.report_id = reports.id'))
    .distinct('image_id')
    .pluck('image_id')) as string[];
}

export type CopyrightNoticeView = {
  id: string;
  imageId: string | null;
  status: string;
  resolution: string | null;
  createdAt: Date;
  resolvedAt: Date | null;
  notice: Record<string, unknown> | null;
  counterNotices: CounterNotice[];
};
export type CounterNotice = { id: string; reportId: string; imageId: string; name: string; contact: string; statement: string; signature: string; status: string; note: string | null; createdAt: Date; resolvedAt: Date | null };

const counterFromRow = (r: Record<string, unknown>): CounterNotice => ({
  id: String(r.id),
  reportId: String(r.report_id),
  imageId: String(r.image_id),
  name: String(r.name),
  contact: String(r.contact),
  statement: String(r.statement),
  signature: String(r.signature),
  status: String(r.status),
  note: (r.note as string | null) ?? null,
  createdAt: toDate(r.created_at),
  resolvedAt: r.resolved_at ? toDate(r.resolved_at) : null,
});

/** Every copyright notice with its status (open, actioned = upheld, dismissed = rejected, reversed), newest first. */
export async function listCopyrightNotices(db: Knex, limit = 200): Promise<CopyrightNoticeView[]> {
  const rows = (await db('reports').where({ reason: 'copyright' }).orderBy('created_at', 'desc').limit(limit)) as Array<Record<string, unknown>>;
  const counters = rows.length ? ((await db('counter_notices').whereIn('report_id', rows.map((r) => String(r.id))).orderBy('created_at')) as Array<Record<string, unknown>>).map(counterFromRow) : [];
  return rows.map((r) => ({
    id: String(r.id),
    imageId: (r.image_id as string | null) ?? null,
    status: String(r.status),
    resolution: (r.resolution as string | null) ?? null,
    createdAt: toDate(r.created_at),
    resolvedAt: r.resolved_at ? toDate(r.resolved_at) : null,
    notice: r.copyright ? (JSON.parse(String(r.copyright)) as Record<string, unknown>) : null,
    counterNotices: counters.filter((c) => c.reportId === String(r.id)),
  }));
}

export type CounterNoticeInput = { name: string; contact: string; statement: string; signature: string; goodFaith: boolean; consent: boolean };

/**
 * Records a counter-notice to the upheld notice about an image: filed by its uploader from their account
 * (userId set, and it must be their image), or recorded by staff from a letter or email (userId null).
 */
export async function fileCounterNotice(db: Knex, imageId: string, input: CounterNoticeInput, filer: { userId: string | null; reportId?: string }, now: Date): Promise<CounterNotice> {
  const text = (v: string, max: number) => v.trim().slice(0, max);
  const values = { name: text(input.name, 200), contact: text(input.contact, 500), statement: text(input.statement, 5000), signature: text(input.signature, 200) };
  if (!values.name || !values.contact || !values.statement || !values.signature || !input.goodFaith || !input.consent) throw new BadRequest(messages.incomplete, 'incomplete_counter_notice');
  const query = db('reports').where({ image_id: imageId, reason: 'copyright', status: 'actioned' }).whereIn('resolution', UPHOLDING).orderBy('resolved_at', 'desc');
  if (filer.userId) query.andWhere({ owner_id: filer.userId });
  if (filer.reportId) query.andWhere({ id: filer.reportId });
  const report = (await query.first('id')) as { id: string } | undefined;
  if (!report) throw new NotFound(messages.notYours);
  if (await db('counter_notices').where({ image_id: imageId, status: 'received' }).first('id')) throw new BadRequest(messages.already, 'counter_notice_pending');
  const row = { id: randomUUID(), report_id: report.id, image_id: imageId, user_id: filer.userId, ...values, status: 'received', note: null, created_at: now, resolved_at: null };
  await db('counter_notices').insert(row);
  return counterFromRow(row);
}

/**
 * Staff decide a counter-notice. Accepting reverses the notice (it stops counting as a strike); putting the
 * image back is the restore action, taken separately so staff can wait out the claimant's window first.
 */
export async function decideCounterNotice(db: Knex, actor: StaffActor, id: string, decision: string, note: string, now: Date): Promise<CounterNotice> {
  if (decision !== 'accept' && decision !== 'reject') throw new BadRequest(messages.status, 'bad_decision');
  const row = (await db('counter_notices').where({ id: id.slice(0, 36) }).first()) as Record<string, unknown> | undefined;
  if (!row) throw new NotFound();
  if (row.status !== 'received') throw new BadRequest(messages.decided, 'already_decided');
  const status = decision === 'accept' ? 'accepted' : 'rejected';
  await db.transaction(async (trx) => {
    await trx('counter_notices').where({ id: row.id }).update({ status, note: note.trim().slice(0, 2000) || null, resolved_at: now });
    if (status === 'accepted') await reverseUpheldNotices(trx, String(row.image_id));
  });
  await recordStaffAction(db, actor, { action: `counter_notice.${decision}`, targetType: 'counter_notice', targetId: String(row.id), reason: note || null, detail: { imageId: row.image_id } }, now);
  return counterFromRow({ ...row, status, note: note.trim() || null, resolved_at: now });
}

/** For an account purge: counter-notices keep their decision, not who filed them. */
export async function anonymiseCounterNotices(trx: Knex, userId: string): Promise<void> {
  await trx('counter_notices').where({ user_id: userId }).update({ user_id: null, name: '[erased]', contact: '[erased]', statement: '[erased]', signature: '[erased]' });
  await trx('reports').where({ owner_id: userId }).update({ owner_id: null });
}
