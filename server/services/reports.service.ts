import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { toDate } from '../db/knex.js';
import type { SecurityLogRepo } from '../db/security-log.repo.js';
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

export type CopyrightNotice = { work: string; originalUrl: string; claimant: string; contact: string; goodFaith: boolean; accurate: boolean; signature: string };

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

export type QueuedReport = { id: string; reason: string; details: string | null; reporterEmail: string | null; copyright: CopyrightNotice | null; createdAt: Date };
/** Open reports about one image or album; blurred when any is about CSAM or illegal content. */
export type ReportGroup = { targetId: string; reports: QueuedReport[]; blurred: boolean; firstAt: Date };
export type QueueOptions = { reason?: string; sort: 'oldest' | 'newest' };

/** Open reports about images (image_id) or albums (album_id), grouped by target, oldest or newest group first. */
export async function openReportGroups(db: Knex, column: 'image_id' | 'album_id', options: QueueOptions): Promise<ReportGroup[]> {
  const q = db('reports').where({ status: 'open' }).whereNotNull(column).orderBy('created_at', 'asc');
  if (options.reason && Object.hasOwn(REPORT_REASONS, options.reason)) q.andWhere({ reason: options.reason });
  const groups = new Map<string, ReportGroup>();
  for (const r of (await q) as Array<Record<string, unknown>>) {
    const targetId = String(r[column]);
    let group = groups.get(targetId);
    if (!group) {
      group = { targetId, reports: [], blurred: false, firstAt: toDate(r.created_at) };
      groups.set(targetId, group);
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

export type QueueGroup = Omit<ReportGroup, 'targetId'> & {
  imageId: string;
  image: { ext: string; ownerId: string | null; moderationState: string | null; title: string } | null;
};

/** The image queue: each group with the image it is about (null once the image is gone). */
export async function reportQueue(db: Knex, options: QueueOptions): Promise<QueueGroup[]> {
  const groups = await openReportGroups(db, 'image_id', options);
  return Promise.all(
    groups.map(async ({ targetId, ...group }) => {
      const image = (await db('images').where({ id: targetId }).first()) as Record<string, unknown> | undefined;
      return {
        imageId: targetId,
        image: image ? { ext: String(image.ext), ownerId: (image.owner_id as string | null) ?? null, moderationState: (image.moderation_state as string | null) ?? null, title: String(image.title ?? image.original_name ?? '') } : null,
        ...group,
      };
    }),
  );
}

/** For an account purge: reports filed from the address keep their content, not who filed them. */
export async function anonymiseReports(trx: Knex, email: string): Promise<void> {
  const rows = (await trx('reports').whereRaw('lower(reporter_email) = ?', [email.toLowerCase()]).select('id', 'copyright')) as Array<{ id: string; copyright: string | null }>;
  for (const row of rows) {
    const notice = row.copyright ? { ...(JSON.parse(row.copyright) as CopyrightNotice), claimant: '[erased]', contact: '[erased]', signature: '[erased]' } : null;
    await trx('reports').where({ id: row.id }).update({ reporter_email: null, copyright: notice ? JSON.stringify(notice) : null });
  }
}
