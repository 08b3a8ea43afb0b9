import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { BadRequest, Forbidden, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';

const messages = {
  reasonNeeded: 'Say why: the account holder is shown this statement of reasons when they try to sign in.',
  self: 'You cannot suspend your own account.',
  staff: 'Only an admin can suspend a staff account.',
  notFound: 'There is no such account.',
};

type Actor = StaffActor & { user: StaffActor['user'] & Pick<UserRecord, 'role'> };

/**
 * Suspends an account: it is signed out everywhere at once and can neither sign in nor upload until lifted.
 * Its images stay as they are; hiding or removing them is a separate decision. Moderators may suspend
 * ordinary accounts only; admins may suspend anyone but themselves.
 */
export async function suspendUser(repos: Repos, actor: Actor, userId: string, reasonInput: string, now: Date, detail: Record<string, unknown> = {}): Promise<void> {
  const reason = reasonInput.trim().slice(0, 2000);
  if (!reason) throw new BadRequest(messages.reasonNeeded, 'reason_required');
  const target = await repos.users.findById(userId);
  if (!target) throw new NotFound(messages.notFound);
  if (target.id === actor.user.id) throw new BadRequest(messages.self, 'cannot_suspend_self');
  if (target.role !== 'user' && actor.user.role !== 'admin') throw new Forbidden(messages.staff, 'staff_target');
  await repos.transaction(async (tx) => {
    await tx.users.setSuspension(userId, { at: now, reason });
    await tx.sessions.deleteAllForUser(userId);
    await recordStaffAction(tx, actor, { action: 'user.suspend', targetType: 'user', targetId: userId, reason, detail }, now);
  });
}

export async function unsuspendUser(repos: Repos, actor: Actor, userId: string, reasonInput: string, now: Date): Promise<void> {
  const target = await repos.users.findById(userId);
  if (!target) throw new NotFound(messages.notFound);
  if (target.role !== 'user' && actor.user.role !== 'admin') throw new Forbidden(messages.staff, 'staff_target');
  await repos.transaction(async (tx) => {
    await tx.users.setSuspension(userId, null);
    await recordStaffAction(tx, actor, { action: 'user.unsuspend', targetType: 'user', targetId: userId, reason: reasonInput.trim() || null }, now);
  });
}
