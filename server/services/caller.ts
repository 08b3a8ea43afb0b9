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
/** A program calling /api/v1 with one of the account's keys; it may do only what its scopes allow. */
export type ApiKeyCaller = {
  readonly kind: 'api_key';
  readonly user: UserRecord;
  readonly keyId: string;
  readonly scopes: readonly ApiScope[];
};
export type Caller = GuestCaller | SessionCaller | ApiKeyCaller;

/** What an API key may be allowed to do. */
export const API_SCOPES = ['images:read', 'images:write', 'images:delete', 'albums:read', 'albums:write', 'account:read', 'webhooks:manage'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const GUEST: GuestCaller = Object.freeze({ kind: 'guest' });

/** The signed-in account behind a caller, or null for a guest. */
export function userOf(caller: Caller): UserRecord | null {
  return caller.kind === 'guest' ? null : caller.user;
}

/**
 * True when the caller is signed in with one of these roles and is not waiting for their account's purge. Only a
 * browser session carries a role: an API key never acts as staff, whoever owns it.
 */
export function hasRole(caller: Caller, ...roles: Role[]): boolean {
  return caller.kind === 'session' && roles.includes(caller.user.role) && !caller.user.deletionRequestedAt;
}
