import { recordWebhookEvent, reportEventData } from './webhook-events.js';
import { randomUUID } from 'node:crypto';
import type { Repos } from '../db/repos.js';
import type { CopyrightNotice, ReportRecord, ReportTargetKind } from '../db/reports.repo.js';
import { BadRequest } from '../errors.js';

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

export type { CopyrightNotice };

const messages = {
  reason: `Choose why you are reporting this image (${Object.keys(REPORT_REASONS).join(', ')}).`,
  details: `Details can be at most ${DETAILS_MAX} characters.`,
  email: 'That email address does not look right. Leave it empty if you do not want an answer.',
  copyright: 'A copyright notice needs the work, where the original is, your name, how to reach you, your signature (your full name), and both statements ticked.',
};

/** What a report is about: an image (from its share page) or an album (from the album page). */
export type ReportTarget = { kind: 'image' | 'album'; id: string };
export type ReportInput = { reason: string; details: string; email: string; copyright: Partial<Record<keyof CopyrightNotice, string | boolean>> };

/** Checks and stores a report. The reporter's IP address goes to the security log only. */
export async function submitReport(
  repos: Repos,
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
  await repos.transaction(async (tx) => {
    await tx.reports.insert({ id, target, reason: input.reason, details: details || null, reporterEmail: email || null, copyright, source: client.userId ? 'account' : 'visitor', createdAt: now });
    await recordWebhookEvent({ clock: () => now }, tx, { type: 'report.created', ownerId: null, data: reportEventData(id, target, input.reason, client.userId ? 'account' : 'visitor') });
    await tx.securityLog.insert({ event: 'abuse.report', userId: client.userId, ip: client.ip, userAgent: client.userAgent, imageId: target.kind === 'image' ? target.id : null, detail: { reportId: id, [target.kind === 'image' ? 'imageId' : 'albumId']: target.id, reason: input.reason } }, now);
  });
  return id;
}

export type QueuedReport = { id: string; reason: string; details: string | null; reporterEmail: string | null; copyright: CopyrightNotice | null; createdAt: Date };
/** Open reports about one image or album; blurred when any is about CSAM or illegal content. */
export type ReportGroup = { targetId: string; reports: QueuedReport[]; blurred: boolean; firstAt: Date };
/** page counts from 1; pageSize groups a page (QUEUE_PAGE unless a test asks for another). */
export type QueueOptions = { reason?: string; sort: 'oldest' | 'newest'; page?: number; pageSize?: number };
/** One page of a queue, and whether another follows. */
export type QueuePage<G> = { groups: G[]; page: number; hasNext: boolean };

/** The queue shows this many groups (images or albums with open reports) a page. */
export const QUEUE_PAGE = 25;

const queued = (r: ReportRecord): QueuedReport => ({ id: r.id, reason: r.reason, details: r.details, reporterEmail: r.reporterEmail, copyright: r.copyright, createdAt: r.createdAt });

/**
 * One page of open reports about images or albums, grouped by target, oldest or newest group first. Two queries
 * whatever the page size: the page's targets (grouped in the database), then their open reports.
 */
export async function openReportGroups(repos: Pick<Repos, 'reports'>, kind: ReportTargetKind, options: QueueOptions): Promise<QueuePage<ReportGroup>> {
  const reason = options.reason && Object.hasOwn(REPORT_REASONS, options.reason) ? options.reason : undefined;
  const page = Math.max(1, options.page ?? 1);
  const pageSize = options.pageSize ?? QUEUE_PAGE;
  // One more than a page: whether a next page exists, without counting.
  const targets = await repos.reports.openTargetsPage(kind, { reason, sort: options.sort, limit: pageSize + 1, offset: (page - 1) * pageSize });
  const shown = targets.slice(0, pageSize);
  const reports = await repos.reports.listOpenFor(kind, shown.map((t) => t.targetId), reason);
  const byTarget = new Map<string, ReportRecord[]>();
  for (const r of reports) {
    const targetId = (kind === 'image' ? r.imageId : r.albumId)!;
    byTarget.set(targetId, [...(byTarget.get(targetId) ?? []), r]);
  }
  const groups = shown.map(({ targetId, firstAt }) => {
    const about = byTarget.get(targetId) ?? [];
    return { targetId, firstAt, reports: about.map(queued), blurred: about.some((r) => BLURRED_REASONS.has(r.reason)) };
  });
  return { groups, page, hasNext: targets.length > pageSize };
}

export type QueueGroup = Omit<ReportGroup, 'targetId'> & {
  imageId: string;
  image: { ext: string; ownerId: string | null; moderationState: string | null; title: string } | null;
};

/** One page of the image queue: each group with the image it is about (null once the image is gone). Three queries. */
export async function reportQueue(repos: Pick<Repos, 'reports' | 'images'>, options: QueueOptions): Promise<QueuePage<QueueGroup>> {
  const { groups, ...page } = await openReportGroups(repos, 'image', options);
  const images = await repos.images.findByIds(groups.map((g) => g.targetId));
  return {
    ...page,
    groups: groups.map(({ targetId, ...group }) => {
      const image = images.get(targetId);
      return {
        imageId: targetId,
        image: image ? { ext: image.ext, ownerId: image.ownerId, moderationState: image.moderationState, title: image.title ?? image.originalName ?? '' } : null,
        ...group,
      };
    }),
  };
}
