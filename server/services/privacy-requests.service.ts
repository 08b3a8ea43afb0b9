import { randomUUID } from 'node:crypto';
import {
  PRIVACY_REQUEST_KINDS,
  PRIVACY_REQUEST_STATUSES,
  type PrivacyRequest,
  type PrivacyRequestKind,
  type PrivacyRequestStatus,
} from '../db/privacy-requests.repo.js';
import type { Repos } from '../db/repos.js';
import { BadRequest, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';

const messages = {
  noteTooLong: () => `A note can be at most ${NOTE_MAX} characters.`,
  badKind: `The kind must be one of ${PRIVACY_REQUEST_KINDS.join(', ')}.`,
  requesterTooLong: 'The requester can be at most 254 characters.',
  badStatus: `The status must be one of ${PRIVACY_REQUEST_STATUSES.join(', ')}.`,
  noSuchRequest: 'There is no such request.',
};

/**
 * The register of requests about personal data. Each is due 30 days after it arrived (the GDPR's one month);
 * the admin panel lists them by due date. When the requester's account is purged the record keeps no identity.
 * Staff changes are audited in the same transaction as the change.
 */
export { PRIVACY_REQUEST_KINDS, PRIVACY_REQUEST_STATUSES };
export type { PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus };
export const PRIVACY_REQUEST_DUE_DAYS = 30;

const NOTE_MAX = 5000;

function checkNote(note: string | null | undefined): string | null {
  if (note === undefined || note === null || note.trim() === '') return null;
  if (note.length > NOTE_MAX) throw new BadRequest(messages.noteTooLong(), 'note_too_long');
  return note.trim();
}

/** Adds a request to the register (pass the repositories of a transaction to do more in it). */
export async function recordPrivacyRequest(
  tx: Pick<Repos, 'privacyRequests'>,
  input: { kind: string; receivedAt: Date; userId?: string | null; requester?: string | null; note?: string | null },
): Promise<PrivacyRequest> {
  const kind = PRIVACY_REQUEST_KINDS.find((k) => k === input.kind);
  if (!kind) throw new BadRequest(messages.badKind, 'bad_kind');
  const requester = input.requester?.trim() || null;
  if (requester && requester.length > 254) throw new BadRequest(messages.requesterTooLong, 'requester_too_long');
  const request: PrivacyRequest = {
    id: randomUUID(),
    kind,
    receivedAt: input.receivedAt,
    dueAt: new Date(input.receivedAt.getTime() + PRIVACY_REQUEST_DUE_DAYS * 86_400_000),
    status: 'open',
    userId: input.userId ?? null,
    requester,
    note: checkNote(input.note),
    updatedAt: input.receivedAt,
  };
  await tx.privacyRequests.insert(request);
  return request;
}

/** Sets a request's status (and note, when given). */
export async function updatePrivacyRequest(tx: Pick<Repos, 'privacyRequests'>, id: string, change: { status: string; note?: string | null }, now: Date): Promise<PrivacyRequest> {
  const status = PRIVACY_REQUEST_STATUSES.find((s) => s === change.status);
  if (!status) throw new BadRequest(messages.badStatus, 'bad_status');
  const note = change.note === undefined ? undefined : checkNote(change.note);
  if (!(await tx.privacyRequests.update(id, { status, note, at: now }))) throw new NotFound(messages.noSuchRequest);
  return (await tx.privacyRequests.findById(id))!;
}

/** Staff record a request; the audit entry is written in the same transaction. */
export async function staffRecordPrivacyRequest(repos: Repos, actor: StaffActor, input: Parameters<typeof recordPrivacyRequest>[1]): Promise<PrivacyRequest> {
  return repos.transaction(async (tx) => {
    const request = await recordPrivacyRequest(tx, input);
    await recordStaffAction(tx, actor, { action: 'privacy_request.record', targetType: 'privacy_request', targetId: request.id, detail: { kind: request.kind } }, input.receivedAt);
    return request;
  });
}

/** Staff change a request's status; the audit entry is written in the same transaction. */
export async function staffUpdatePrivacyRequest(repos: Repos, actor: StaffActor, id: string, change: { status: string; note?: string | null }, now: Date): Promise<PrivacyRequest> {
  return repos.transaction(async (tx) => {
    const updated = await updatePrivacyRequest(tx, id, change, now);
    await recordStaffAction(tx, actor, { action: 'privacy_request.update', targetType: 'privacy_request', targetId: updated.id, reason: updated.note, detail: { status: updated.status } }, now);
    return updated;
  });
}

/** Open and in-progress requests, the most urgent first. */
export async function listPendingPrivacyRequests(repos: Pick<Repos, 'privacyRequests'>): Promise<PrivacyRequest[]> {
  return repos.privacyRequests.listPending();
}
