import type { Repos } from '../db/repos.js';
import type { Role, UserRecord } from '../db/users.repo.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../errors.js';
import { humanBytes, parseByteSize } from '../lib/format.js';
import { purgeAccount, purgeDateOf, requestAccountDeletion, type AccountDeletionDeps } from './account-deletion.service.js';
import { apiTrafficOf, apiWindowStart, type ApiTraffic } from './admin-dashboard.service.js';
import { keyPreview } from './api-keys.service.js';
import { keyStatus, type KeyStatus } from './api-usage.service.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { countStrikes } from './copyright.service.js';
import { updatePrivacyRequest } from './privacy-requests.service.js';
import { usageOf, type Usage } from './quota.service.js';

/**
 * The staff "Users" pages (admins only): find an account, see what it holds and what was reported about it, and
 * act on it. Every action is audited. Deleting starts the same grace period the holder's own request would;
 * purging erases at once. Neither works on the acting admin's own account or on another admin's.
 */
export type StaffUsersDeps = AccountDeletionDeps & { repos: Repos; defaultQuotaBytes: number; repeatInfringer: { strikes: number; windowDays: number } };
type Actor = StaffActor & { user: StaffActor['user'] & Pick<UserRecord, 'role'> };

export const USERS_PAGE = 50;
const SEARCH_MAX = 100;
const PUBLIC_IMAGES_SHOWN = 12;
const PRIVACY_REQUESTS_SHOWN = 20;
const USER_ID = /^[0-9A-Za-z]{16}$/;

const messages = {
  notFound: 'There is no such account.',
  self: 'You cannot do this to your own account from the staff pages; use Settings instead.',
  admin: 'An admin account cannot be deleted or purged from the staff pages; its holder can delete it in Settings.',
  badQuota: (defaultQuota: number) =>
    `Write the quota as a size such as "500 MB" or "2 GB", or leave it empty for the default (${humanBytes(defaultQuota)}).`,
  noAccount: 'That request is not linked to an account (or the account is already gone), so there is nothing to export or purge.',
  badRole: 'The role must be user, moderator or admin.',
  rolesAdminsOnly: 'Only admins can change roles.',
  selfRole: 'You cannot change your own role; another admin can.',
  lastAdmin: 'This is the last admin account (or its role changed meanwhile): make another admin first.',
  emailChanged: 'The account’s email address changed meanwhile; look at the page again before confirming it.',
};

export const ROLES: readonly Role[] = ['user', 'moderator', 'admin'];

export type UserStatus = 'active' | 'suspended' | 'pending deletion';
export const statusOf = (user: Pick<UserRecord, 'deletionRequestedAt' | 'suspendedAt'>): UserStatus =>
  user.deletionRequestedAt ? 'pending deletion' : user.suspendedAt ? 'suspended' : 'active';

/** One page of the search: `q` matches part of the username or the email address, case-insensitively. */
export async function searchUsers(deps: Pick<StaffUsersDeps, 'repos'>, qInput: unknown, pageInput: unknown) {
  const q = typeof qInput === 'string' ? qInput.trim().slice(0, SEARCH_MAX) : '';
  const parsed = typeof pageInput === 'string' && /^\d{1,6}$/.test(pageInput) ? Number(pageInput) : 1;
  const page = Math.max(1, parsed);
  const rows = await deps.repos.users.searchForStaff(q, { limit: USERS_PAGE, offset: (page - 1) * USERS_PAGE });
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
export async function findAccount(deps: Pick<StaffUsersDeps, 'repos'>, id: string): Promise<UserRecord> {
  const user = USER_ID.test(id) ? await deps.repos.users.findById(id) : null;
  if (!user) throw new NotFound(messages.notFound);
  return user;
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
  const { repos } = deps;
  const requests = await repos.privacyRequests.listForUser(user.id, PRIVACY_REQUESTS_SHOWN);
  return {
    user,
    status: statusOf(user),
    uploads: await repos.images.countByOwner(user.id),
    usage: usageOf(user, deps.defaultQuotaBytes),
    customQuota: user.quotaBytes !== null,
    reports: await repos.reports.countAboutOwner(user.id),
    strikes: { count: await countStrikes(repos, user.id, now, deps.repeatInfringer.windowDays), threshold: deps.repeatInfringer.strikes, windowDays: deps.repeatInfringer.windowDays },
    sessions: (await repos.sessions.listForUser(user.id, now)).length,
    purgeAt: user.deletionRequestedAt ? purgeDateOf(user.deletionRequestedAt, deps.purgeDays) : null,
    publicImages: (await repos.images.listByOwner(user.id, { sort: 'newest', after: null, limit: PUBLIC_IMAGES_SHOWN, visibility: 'public' })).map((i) => ({ id: i.id, title: i.title ?? i.originalName, pagePath: `/i/${i.id}` })),
    privacyRequests: requests.map((r) => ({ id: r.id, kind: r.kind, status: r.status, receivedAt: r.receivedAt })),
  };
}

export type StaffApiKey = {
  id: string;
  preview: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  status: KeyStatus;
};

/**
 * The account's API keys (never a hash) and its API calls per day over what the request log holds
 * (API_LOG_RETENTION_DAYS), for the user page of an account already found (staffUserProfile).
 */
export async function staffApiOverview(deps: Pick<StaffUsersDeps, 'repos'>, user: Pick<UserRecord, 'id'>, now: Date, logDays: number): Promise<{ keys: StaffApiKey[]; usage: ApiTraffic }> {
  const keys = (await deps.repos.apiKeys.listForUser(user.id)).map((k) => ({
    id: k.id,
    preview: keyPreview(k.id),
    name: k.name,
    scopes: k.scopes,
    createdAt: k.createdAt,
    lastUsedAt: k.lastUsedAt,
    expiresAt: k.expiresAt,
    status: keyStatus(k, now),
  }));
  return { keys, usage: apiTrafficOf(await deps.repos.apiRequests.dailyForUser(user.id, apiWindowStart(now, logDays)), logDays) };
}

/** Sets the quota from what staff typed ("500 MB", "2 GB"; empty for the default). */
export async function setUserQuota(deps: StaffUsersDeps, actor: Actor, id: string, input: string, now: Date): Promise<number | null> {
  const user = await findAccount(deps, id);
  const quotaBytes = input.trim() === '' ? null : parseByteSize(input);
  if (quotaBytes === null && input.trim() !== '') throw new BadRequest(messages.badQuota(deps.defaultQuotaBytes), 'bad_quota');
  await deps.repos.transaction(async (tx) => {
    await tx.users.setQuota(user.id, quotaBytes);
    await recordStaffAction(tx, actor, { action: 'user.quota', targetType: 'user', targetId: user.id, detail: { quotaBytes, previous: user.quotaBytes } }, now);
  });
  return quotaBytes;
}

/**
 * Gives the account another role (admins only), audited as user.role with from and to. An admin cannot change
 * their own role, and the last admin cannot be demoted (checked with the admin rows locked: see changeRole).
 */
export async function setUserRole(deps: StaffUsersDeps, actor: Actor, id: string, input: string, now: Date): Promise<Role> {
  if (actor.user.role !== 'admin') throw new Forbidden(messages.rolesAdminsOnly, 'admins_only');
  const role = ROLES.find((r) => r === input);
  if (!role) throw new BadRequest(messages.badRole, 'bad_role');
  const user = await findAccount(deps, id);
  if (user.id === actor.user.id) throw new BadRequest(messages.selfRole, 'cannot_target_self');
  if (user.role === role) return role;
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.users.changeRole(user.id, user.role, role))) throw new Conflict(messages.lastAdmin, 'last_admin');
    await recordStaffAction(tx, actor, { action: 'user.role', targetType: 'user', targetId: user.id, detail: { from: user.role, to: role } }, now);
  });
  return role;
}

/**
 * Marks the account's current address as confirmed, as following the emailed link would (for a holder whose mail
 * does not arrive): the limit on what an unconfirmed account may store ends at once. Audited as user.email_confirmed,
 * without the address (the audit trail outlives an erasure). False if it was already confirmed.
 */
export async function confirmUserEmail(deps: StaffUsersDeps, actor: Actor, id: string, now: Date): Promise<boolean> {
  const user = await findAccount(deps, id);
  if (user.emailVerifiedAt) return false;
  await deps.repos.transaction(async (tx) => {
    // Conditional on the address staff saw: one changed meanwhile is not confirmed by this.
    if (!(await tx.users.markEmailVerified(user.id, user.email, now))) throw new Conflict(messages.emailChanged, 'email_changed');
    await recordStaffAction(tx, actor, { action: 'user.email_confirmed', targetType: 'user', targetId: user.id }, now);
  });
  return true;
}

/** Ends every session of the account (it can sign in again). */
export async function signOutEverywhere(deps: StaffUsersDeps, actor: Actor, id: string, now: Date): Promise<number> {
  const user = await findAccount(deps, id);
  return deps.repos.transaction(async (tx) => {
    const ended = await tx.sessions.deleteAllForUser(user.id);
    await recordStaffAction(tx, actor, { action: 'user.sign_out', targetType: 'user', targetId: user.id, detail: { sessions: ended } }, now);
    return ended;
  });
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
  const purgeAt = purgeDateOf(now, deps.purgeDays);
  return requestAccountDeletion(deps, user, { ip: undefined, userAgent: undefined }, async (tx) => {
    await recordStaffAction(tx, actor, { action: 'user.delete', targetType: 'user', targetId: user.id, reason, detail: { purgeAt: purgeAt.toISOString() } }, now);
  });
}

/** Erases the account now. The audit entry keeps the id only: a name or address typed into the reason is blanked. */
export async function staffPurgeAccount(deps: StaffUsersDeps, actor: Actor, id: string, reason: string, now: Date): Promise<void> {
  const user = await findAccount(deps, id);
  assertErasable(actor, user);
  const scrubbed = [user.email, user.username].reduce((text, name) => text.split(new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi')).join('[erased]'), reason);
  await purgeAccount(deps, user.id, now, {
    inTx: async (tx) => {
      await recordStaffAction(tx, actor, { action: 'account.purge_now', targetType: 'user', targetId: user.id, reason: scrubbed }, now);
    },
  });
}

/** The live account a privacy request is about, or a 404 saying the request names none. */
export async function accountOfPrivacyRequest(deps: Pick<StaffUsersDeps, 'repos'>, requestId: string): Promise<UserRecord> {
  const request = await deps.repos.privacyRequests.findById(requestId.slice(0, 36));
  const user = request?.userId ? await deps.repos.users.findById(request.userId) : null;
  if (!user) throw new NotFound(messages.noAccount);
  return user;
}

/**
 * Purge now, for a privacy request: erases the account it concerns at once, skipping the grace period, and marks
 * the request done. The audit entry names the request, not the erased account.
 */
export async function purgeForPrivacyRequest(deps: StaffUsersDeps, actor: Actor, requestId: string, note: string, now: Date): Promise<void> {
  const id = requestId.slice(0, 36);
  const target = await accountOfPrivacyRequest(deps, id);
  assertErasable(actor, target);
  await purgeAccount(deps, target.id, now, {
    inTx: async (tx) => {
      await updatePrivacyRequest(tx, id, { status: 'done', note: note || 'Account purged at the requester’s request.' }, now);
      await recordStaffAction(tx, actor, { action: 'account.purge_now', targetType: 'privacy_request', targetId: id, reason: note || null }, now);
    },
  });
}
