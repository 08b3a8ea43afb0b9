import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { toDate, toDateOrNull } from '../db/knex.js';
import { BadRequest, NotFound } from '../errors.js';

/**
 * The register of requests about personal data. Each is due 30 days after it arrived (the GDPR's one month);
 * the admin panel lists them by due date. When the requester's account is purged the record keeps no identity.
 */
export const PRIVACY_REQUEST_KINDS = ['access', 'rectification', 'erasure', 'restriction', 'objection', 'portability', 'other'] as const;
export const PRIVACY_REQUEST_STATUSES = ['open', 'in_progress', 'done', 'refused'] as const;
export type PrivacyRequestKind = (typeof PRIVACY_REQUEST_KINDS)[number];
export type PrivacyRequestStatus = (typeof PRIVACY_REQUEST_STATUSES)[number];
export const PRIVACY_REQUEST_DUE_DAYS = 30;

export type PrivacyRequest = {
  id: string;
  kind: PrivacyRequestKind;
  receivedAt: Date;
  dueAt: Date;
  status: PrivacyRequestStatus;
  userId: string | null;
  requester: string | null;
  note: string | null;
  updatedAt: Date;
};

const NOTE_MAX = 5000;

const fromRow = (r: Record<string, unknown>): PrivacyRequest => ({
  id: String(r.id),
  kind: r.kind as PrivacyRequestKind,
  receivedAt: toDate(r.received_at),
  dueAt: toDate(r.due_at),
  status: r.status as PrivacyRequestStatus,
  userId: (r.user_id as string | null) ?? null,
  requester: (r.requester as string | null) ?? null,
  note: (r.note as string | null) ?? null,
  updatedAt: toDateOrNull(r.updated_at) ?? toDate(r.received_at),
});

function checkNote(note: string | null | undefined): string | null {
  if (note === undefined || note === null || note.trim() === '') return null;
  if (note.length > NOTE_MAX) throw new BadRequest(`A note can be at most ${NOTE_MAX} characters.`, 'note_too_long');
  return note.trim();
}

export async function recordPrivacyRequest(
  db: Knex,
  input: { kind: string; receivedAt: Date; userId?: string | null; requester?: string | null; note?: string | null },
): Promise<PrivacyRequest> {
  if (!(PRIVACY_REQUEST_KINDS as readonly string[]).includes(input.kind)) throw new BadRequest(`The kind must be one of ${PRIVACY_REQUEST_KINDS.join(', ')}.`, 'bad_kind');
  const requester = input.requester?.trim() || null;
  if (requester && requester.length > 254) throw new BadRequest('The requester can be at most 254 characters.', 'requester_too_long');
  const row = {
    id: randomUUID(),
    kind: input.kind,
    received_at: input.receivedAt,
    due_at: new Date(input.receivedAt.getTime() + PRIVACY_REQUEST_DUE_DAYS * 86_400_000),
    status: 'open',
    user_id: input.userId ?? null,
    requester,
    note: checkNote(input.note),
    updated_at: input.receivedAt,
  };
  await db('privacy_requests').insert(row);
  return fromRow(row);
}

export async function updatePrivacyRequest(db: Knex, id: string, change: { status: string; note?: string | null }, now: Date): Promise<PrivacyRequest> {
  if (!(PRIVACY_REQUEST_STATUSES as readonly string[]).includes(change.status)) throw new BadRequest(`The status must be one of ${PRIVACY_REQUEST_STATUSES.join(', ')}.`, 'bad_status');
  const update: Record<string, unknown> = { status: change.status, updated_at: now };
  if (change.note !== undefined) update.note = checkNote(change.note);
  if ((await db('privacy_requests').where({ id }).update(update)) === 0) throw new NotFound('There is no such request.');
  return fromRow((await db('privacy_requests').where({ id }).first()) as Record<string, unknown>);
}

/** Open and in-progress requests, the most urgent first. */
export async function listPendingPrivacyRequests(db: Knex): Promise<PrivacyRequest[]> {
  return ((await db('privacy_requests').whereIn('status', ['open', 'in_progress']).orderBy('due_at')) as Array<Record<string, unknown>>).map(fromRow);
}

/**
 * Called by the account purge: the record of what was asked and done stays (kind, dates, status); who asked, and
 * notes that may name them, go. Requests recorded by address only are matched by that address.
 */
export async function anonymisePrivacyRequests(trx: Knex, userId: string, addresses: readonly string[] = []): Promise<void> {
  await trx('privacy_requests')
    .where({ user_id: userId })
    .orWhereIn(trx.raw('lower(requester)') as unknown as string, addresses.map((a) => a.toLowerCase()))
    .update({ user_id: null, requester: null, note: null });
}
