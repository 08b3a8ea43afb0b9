import { randomUUID } from 'node:crypto';
import type { CounterNotice } from '../db/counter-notices.repo.js';
import type { Repos } from '../db/repos.js';
import { BadRequest, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { suspendUser } from './suspension.service.js';

export type { CounterNotice };

const DAY_MS = 24 * 60 * 60 * 1000;
const NOTICES_SHOWN = 200;

const messages = {
  incomplete: 'A counter-notice needs your name, how to reach you, your statement, your signature (your full name) and both statements ticked.',
  notYours: 'There is no upheld copyright notice about an image of yours with that id.',
  noNotice: 'There is no copyright notice about an image with that id.',
  already: 'A counter-notice about this image is already waiting for a decision.',
  status: 'The decision must be accept or reject.',
  decided: 'That counter-notice has already been decided.',
};

/**
 * Strikes: images of the account taken down (hidden or removed) on a copyright notice within the policy window.
 * One image is one strike however many notices named it, so piling reports on an image cannot suspend anyone.
 * Notices reversed (a counter-notice accepted, or the image put back) no longer count.
 */
export async function countStrikes(repos: Pick<Repos, 'reports'>, userId: string, now: Date, windowDays: number): Promise<number> {
  return repos.reports.countStrikes(userId, new Date(now.getTime() - windowDays * DAY_MS));
}

type PolicyDeps = { repos: Repos; repeatInfringer: { strikes: number; windowDays: number } };

/**
 * The repeat-infringer policy: REPEAT_INFRINGER_STRIKES upheld notices within REPEAT_INFRINGER_WINDOW_DAYS
 * suspend an ordinary account (staff accounts are left to an admin). Recorded as the deciding moderator's action.
 */
export async function applyRepeatInfringerPolicy(deps: PolicyDeps, actor: StaffActor, userId: string, now: Date): Promise<boolean> {
  const { strikes, windowDays } = deps.repeatInfringer;
  if (strikes === 0) return false;
  const user = await deps.repos.users.findById(userId);
  if (!user || user.role !== 'user' || user.suspendedAt) return false;
  const count = await countStrikes(deps.repos, userId, now, windowDays);
  if (count < strikes) return false;
  const reason = `Repeat copyright infringement: ${count} copyright notices about your images were upheld within ${windowDays} days.`;
  // The policy acts with a moderator's rights, whoever applied the decision: only ordinary accounts.
  await suspendUser(deps.repos, { ...actor, user: { ...actor.user, role: 'moderator' } }, userId, reason, now, { policy: 'repeat_infringer', strikes: count });
  return true;
}

/** The holder's images with an upheld copyright notice and no counter-notice waiting or refused. */
export async function counterableImageIds(repos: Pick<Repos, 'reports'>, ownerId: string): Promise<string[]> {
  return repos.reports.counterableImageIds(ownerId);
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

/** Every copyright notice with its status (open, actioned = upheld, dismissed = rejected, reversed), newest first. */
export async function listCopyrightNotices(repos: Pick<Repos, 'reports' | 'counterNotices'>, limit = NOTICES_SHOWN): Promise<CopyrightNoticeView[]> {
  const reports = await repos.reports.listCopyright(limit);
  const counters = await repos.counterNotices.listForReports(reports.map((r) => r.id));
  return reports.map((r) => ({
    id: r.id,
    imageId: r.imageId,
    status: r.status,
    resolution: r.resolution,
    createdAt: r.createdAt,
    resolvedAt: r.resolvedAt,
    notice: r.copyright,
    counterNotices: counters.filter((c) => c.reportId === r.id),
  }));
}

export type CounterNoticeInput = { name: string; contact: string; statement: string; signature: string; goodFaith: boolean; consent: boolean };

/**
 * Records a counter-notice to the upheld notice about an image: filed by its uploader from their account
 * (userId set, and it must be their image), or recorded by staff from a letter or email (userId null).
 */
export async function fileCounterNotice(tx: Pick<Repos, 'reports' | 'counterNotices'>, imageId: string, input: CounterNoticeInput, filer: { userId: string | null; reportId?: string }, now: Date): Promise<CounterNotice> {
  const text = (v: string, max: number) => v.trim().slice(0, max);
  const values = { name: text(input.name, 200), contact: text(input.contact, 500), statement: text(input.statement, 5000), signature: text(input.signature, 200) };
  if (!values.name || !values.contact || !values.statement || !values.signature || !input.goodFaith || !input.consent) throw new BadRequest(messages.incomplete, 'incomplete_counter_notice');
  const report = await tx.reports.findUpheldCopyright(imageId, { ownerId: filer.userId ?? undefined, reportId: filer.reportId });
  if (!report) throw new NotFound(messages.notYours);
  if (await tx.counterNotices.hasPendingFor(imageId)) throw new BadRequest(messages.already, 'counter_notice_pending');
  return tx.counterNotices.insert({ id: randomUUID(), reportId: report.id, imageId, userId: filer.userId, ...values, createdAt: now });
}

/** Staff record a counter-notice that arrived by post or email, against the copyright notice it answers; audited. */
export async function recordCounterNotice(repos: Repos, actor: StaffActor, reportId: string, input: CounterNoticeInput, now: Date): Promise<CounterNotice> {
  const report = await repos.reports.findById(reportId.slice(0, 36));
  if (report?.reason !== 'copyright' || !report.imageId) throw new NotFound(messages.noNotice);
  const imageId = report.imageId;
  return repos.transaction(async (tx) => {
    const counter = await fileCounterNotice(tx, imageId, input, { userId: null, reportId: report.id }, now);
    await recordStaffAction(tx, actor, { action: 'counter_notice.record', targetType: 'counter_notice', targetId: counter.id, detail: { imageId } }, now);
    return counter;
  });
}

/**
 * Staff decide a counter-notice. Accepting reverses the notice (it stops counting as a strike); putting the
 * image back is the restore action, taken separately so staff can wait out the claimant's window first.
 */
export async function decideCounterNotice(repos: Repos, actor: StaffActor, id: string, decision: string, noteInput: string, now: Date): Promise<CounterNotice> {
  if (decision !== 'accept' && decision !== 'reject') throw new BadRequest(messages.status, 'bad_decision');
  const counter = await repos.counterNotices.findById(id.slice(0, 36));
  if (!counter) throw new NotFound();
  if (counter.status !== 'received') throw new BadRequest(messages.decided, 'already_decided');
  const status = decision === 'accept' ? 'accepted' : 'rejected';
  const note = noteInput.trim().slice(0, 2000) || null;
  await repos.transaction(async (tx) => {
    // Decided only while still waiting: two staff deciding at once cannot both win.
    if (!(await tx.counterNotices.decide(counter.id, { status, note, at: now }))) throw new BadRequest(messages.decided, 'already_decided');
    if (status === 'accepted') await tx.reports.reverseUpheldCopyright(counter.imageId);
    await recordStaffAction(tx, actor, { action: `counter_notice.${decision}`, targetType: 'counter_notice', targetId: counter.id, reason: note, detail: { imageId: counter.imageId } }, now);
  });
  return { ...counter, status, note, resolvedAt: now };
}
