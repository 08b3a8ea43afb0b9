import type { Role, UserRecord } from '../db/users.repo.js';

/**
 * Who is calling, as one type that routes and services read (never cookies or headers). Today a caller is a guest
 * or a browser session; the API adds a key with scopes as a third kind. CSRF stays bound to browser sessions.
 */
export type GuestCaller = { readonly kind: 'guest' };
export type SessionCaller = {
  readonly kind: 'session';
  readonly user: UserRecord;
  readonly session: { readonly idHash: string; readonly publicId: string; readonly reauthAt: Date | null };
};
export type Caller = GuestCaller | SessionCaller;

export const GUEST: GuestCaller = Object.freeze({ kind: 'guest' });

/** The signed-in account behind a caller, or null for a guest. */
export function userOf(caller: Caller): UserRecord | null {
  return caller.kind === 'guest' ? null : caller.user;
}

/** True when the caller is signed in with one of these roles and is not waiting for their account's purge. */
export function hasRole(caller: Caller, ...roles: Role[]): boolean {
  const user = userOf(caller);
  return !!user && roles.includes(user.role) && !user.deletionRequestedAt;
}
