import type { Knex } from 'knex';
import { toDate } from '../db/knex.js';
import type { UserRecord } from '../db/users.repo.js';
import { BadRequest, Forbidden, NotFound } from '../errors.js';
import { humanBytes, parseByteSize } from '../lib/format.js';
import { purgeAccount, purgeDateOf, requestAccountDeletion, type AccountDeletionDeps } from './account-deletion.service.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { countStrikes } from './copyright.service.js';
import { usageOf, type Usage } from './quota.service.js';

/**
 * The staff "Users" pages (admins only): find an account, see what it holds and what was reported about it, and
 * act on it. Every action is audited. Deleting starts the same grace period the holder's own request would;
 * purging erases at once. Neither works on the acting admin's own account or on another admin's.
 */
export type StaffUsersDeps = AccountDeletionDeps & { defaultQuotaBytes: number; repeatInfringer: { strikes: number; windowDays: number } };
type Actor = StaffActor & { user: StaffActor['user'] & Pick<UserRecord, 'role'> };

export const USERS_PAGE = 50;
const SEARCH_MAX = 100;
const PUBLIC_IMAGES_SHOWN = 12;
const USER_ID = /^[0-9A-Za-z]{16}$/;

const messages = {
  notFound: 'There is no such account.',
  self: 'You cannot do this to your own account from the staff pages; use Settings instead.',
  admin: 'An admin account cannot be deleted or purged from the staff pages; its holder can delete it in Settings.',
  badQuota: (defaultQuota: number) =>
    `Write the quota as a size such as "500 MB" or "2 GB", or leave it empty for the default (${humanBytes(defaultQuota)}).`,
  noAccount: 'That request is not linked to an account (or the account is already gone), so there is nothing to export or purge.',
};

export type UserStatus = 'active' | 'suspended' | 'pending deletion';
export const statusOf = (user: Pick<UserRecord, 'deletionRequestedAt' | 'suspendedAt'>): UserStatus =>
  user.deletionRequestedAt ? 'pending deletion' : user.suspendedAt ? 'suspended' : 'active';

/** One page of the search: `q` matches part of the username or the email address, case-insensitively. */
export async function searchUsers(deps: Pick<StaffUsersDeps, 'users'>, qInput: unknown, pageInput: unknown) {
  const q = typeof qInput === 'string' ? qInput.trim().slice(0, SEARCH_MAX) : '';
  const parsed = typeof pageInput === 'string' && /^\d{1,6}$/.test(pageInput) ? Number(pageInput) : 1;
  const page = Math.max(1, parsed);
  const rows = await deps.users.searchForStaff(q, { limit: USERS_PAGE, offset: (page - 1) * USERS_PAGE });
  // Only what the list shows: never the password hash.
  const users = rows.slice(0, USERS_PAGE).map((u) => ({
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    createdAt: u.createdAt,
    uploads: u.uploads,
    usedBytes: u.usedBytes,
    quotaBytes: u.quotaBytes,
    status: statusOf(u),
  }));
  return { q, page, hasNext: rows.length > USERS_PAGE, users };
}

/** The account an id in a URL names; ids are checked for shape first (a URL is hostile input). */
export async function findAccount(deps: Pick<StaffUsersDeps, 'users'>, id: string): Promise<UserRecord> {
  const user = USER_ID.test(id) ? await deps.users.findById(id) : null;
  if (!user) throw new NotFound(messages.notFound);
  return user;
}

/**
 * Reports about the account's images and albums. Open reports do not name the uploader yet, so they are found
 * through the images and albums the account owns now; resolved ones recorded the owner when they were decided.
 */
async function reportCounts(db: Knex, userId: string): Promise<{ open: number; total: number }> {
  const rows = (await db('reports')
    .where((q) =>
      q
        .where((open) =>
          open.where({ status: 'open' }).andWhere((about) => about.whereIn('image_id', db('images').select('id').where({ owner_id: userId })).orWhereIn('album_id', db('albums').select('id').where({ owner_id: userId }))),
        )
        .orWhere((resolved) => resolved.whereNot({ status: 'open' }).andWhere({ owner_id: userId })),
    )
    .select('status')
    .count({ n: '*' })
    .groupBy('status')) as Array<{ status: string; n: number | string }>;
  const total = rows.reduce((sum, r) => sum + Number(r.n), 0);
  return { open: Number(rows.find((r) => r.status === 'open')?.n ?? 0), total };
}

export type StaffUserProfile = {
  user: UserRecord;
  status: UserStatus;
  uploads: number;
  usage: Usage;
  customQuota: boolean;
  reports: { open: number; total: number };
  strikes: { count: number; threshold: number; windowDays: number };
  sessions: number;
  purgeAt: Date | null;
  /** Newest public images, with the page to see each on (relative links). */
  publicImages: Array<{ id: string; title: string; pagePath: string }>;
  privacyRequests: Array<{ id: string; kind: string; status: string; receivedAt: Date }>;
};

export async function staffUserProfile(deps: StaffUsersDeps, id: string, now: Date): Promise<StaffUserProfile> {
  const user = await findAccount(deps, id);
  const uploads = (await deps.db('images').where({ owner_id: user.id }).count({ n: '*' }).first()) as { n: number | string } | undefined;
  const requests = (await deps.db('privacy_requests').where({ user_id: user.id }).orderBy('received_at', 'desc').limit(20).select('id', 'kind', 'status', 'received_at')) as Array<Record<string, unknown>>;
  return {
    user,
    status: statusOf(user),
    uploads: Number(uploads?.n ?? 0),
    usage: usageOf(user, deps.defaultQuotaBytes),
    customQuota: user.quotaBytes !== null,
    reports: await reportCounts(deps.db, user.id),
    strikes: { count: await countStrikes(deps.db, user.id, now, deps.repeatInfringer.windowDays), threshold: deps.repeatInfringer.strikes, windowDays: deps.repeatInfringer.windowDays },
    sessions: (await deps.sessions.listForUser(user.id, now)).length,
    purgeAt: user.deletionRequestedAt ? purgeDateOf(user.deletionRequestedAt, deps.purgeDays) : null,
    publicImages: (await deps.images.listByOwner(user.id, { sort: 'newest', after: null, limit: PUBLIC_IMAGES_SHOWN, visibility: 'public' })).map((i) => ({ id: i.id, title: i.title ?? i.originalName, pagePath: `/i/${i.id}` })),
    privacyRequests: requests.map((r) => ({ id: String(r.id), kind: String(r.kind), status: String(r.status), receivedAt: toDate(r.received_at) })),
  };
}

/** Sets the quota from what staff typed ("500 MB", "2 GB"; empty for the default). */
export async function setUserQuota(deps: StaffUsersDeps, actor: Actor, id: string, input: string, now: Date): Promise<number | null> {
  const user = await findAccount(deps, id);
  const quotaBytes = input.trim() === '' ? null : parseByteSize(input);
  if (quotaBytes === null && input.trim() !== '') throw new BadRequest(messages.badQuota(deps.defaultQuotaBytes), 'bad_quota');
  await deps.users.setQuota(user.id, quotaBytes);
  await recordStaffAction(deps.db, actor, { action: 'user.quota', targetType: 'user', targetId: user.id, detail: { quotaBytes, previous: user.quotaBytes } }, now);
  return quotaBytes;
}

/** Ends every session of the account (it can sign in again). */
export async function signOutEverywhere(deps: StaffUsersDeps, actor: Actor, id: string, now: Date): Promise<number> {
  const user = await findAccount(deps, id);
  const ended = await deps.sessions.deleteAllForUser(user.id);
  await recordStaffAction(deps.db, actor, { action: 'user.sign_out', targetType: 'user', targetId: user.id, detail: { sessions: ended } }, now);
  return ended;
}

/** Staff may not erase themselves, nor an admin account (its holder deletes it in Settings). */
export function assertErasable(actor: Actor, target: UserRecord): void {
  if (target.id === actor.user.id) throw new BadRequest(messages.self, 'cannot_target_self');
  if (target.role === 'admin') throw new Forbidden(messages.admin, 'admin_target');
}

/**
 * The holder's own deletion, started by staff: signed out, images to the recovery store, the "keep my account"
 * email sent, purged when the grace period ends. The security-log row carries no address: the staff member's
 * belongs to the audit trail, not to the holder's records (which their export would hand over).
 */
export async function staffDeleteAccount(deps: StaffUsersDeps, actor: Actor, id: string, reason: string, now: Date): Promise<Date> {
  const user = await findAccount(deps, id);
  assertErasable(actor, user);
  const purgeAt = await requestAccountDeletion(deps, user, { ip: undefined, userAgent: undefined });
  await recordStaffAction(deps.db, actor, { action: 'user.delete', targetType: 'user', targetId: user.id, reason, detail: { purgeAt: purgeAt.toISOString() } }, now);
  return purgeAt;
}

/** Erases the account now. The audit entry keeps the id only: a name or address typed into the reason is blanked. */
export async function staffPurgeAccount(deps: StaffUsersDeps, actor: Actor, id: string, reason: string, now: Date): Promise<void> {
  const user = await findAccount(deps, id);
  assertErasable(actor, user);
  await purgeAccount(deps, user.id, now);
  const scrubbed = [user.email, user.username].reduce((text, name) => text.split(new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi')).join('[erased]'), reason);
  await recordStaffAction(deps.db, actor, { action: 'account.purge_now', targetType: 'user', targetId: user.id, reason: scrubbed }, now);
}

/** The live account a privacy request is about, or a 404 saying the request names none. */
export async function accountOfPrivacyRequest(deps: Pick<StaffUsersDeps, 'db' | 'users'>, requestId: string): Promise<UserRecord> {
  const request = (await deps.db('privacy_requests').where({ id: requestId.slice(0, 36) }).first('user_id')) as { user_id: string | null } | undefined;
  const user = request?.user_id ? await deps.users.findById(request.user_id) : null;
  if (!user) throw new NotFound(messages.noAccount);
  return user;
}
