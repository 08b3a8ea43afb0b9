import { UAParser } from 'ua-parser-js';
import type { ConsentEntry } from '../db/consent-log.repo.js';
import type { Repos } from '../db/repos.js';
import { usernameKey, type UserRecord } from '../db/users.repo.js';
import { BadRequest, Forbidden, NotFound } from '../errors.js';
import { hashPassword, verifyPassword, PASSWORD_MAX } from '../lib/passwords.js';
import { messages as authMessages, sendEmailChangeLink, sendVerification, validateEmail, validateNewPassword, validateUsername, type AuthDeps } from './auth.service.js';
import type { RateLimits } from './rate-limits.service.js';
import { isUniqueViolation } from '../db/knex.js';
import type { SecurityEventName } from '../db/security-events.js';

export const messages = {
  wrongPassword: 'Your current password is not correct. Type the password you use to log in now; if you forgot it, log out and use "Forgot your password?".',
  alreadyVerified: 'Your email address is already confirmed.',
  emailUnchanged: 'That is already your email address.',
  sessionNotFound: 'That session does not exist or has already ended.',
  usernameTaken: authMessages.usernameTaken,
};

export type SettingsDeps = {
  repos: Repos;
  auth: AuthDeps;
  limits: RateLimits;
  clock: () => Date;
  bcryptCost: number;
};

export type Client = { ip: string | undefined; userAgent: string | undefined };

/** Mail goes out after the response, so its duration tells nothing about which branch ran. */
function sendLater(deps: SettingsDeps, work: () => Promise<void>): void {
  setImmediate(() => work().catch((err: unknown) => deps.auth.logger.error({ err }, 'sending an email failed')));
}

/** Writes a security-log row through `repos`: the pool, or the transaction the change is made in. */
async function log(deps: SettingsDeps, repos: Pick<Repos, 'securityLog'>, event: SecurityEventName, userId: string, client: Client, detail?: Record<string, unknown>): Promise<void> {
  await repos.securityLog.insert({ event, userId, ip: client.ip, userAgent: client.userAgent, detail }, deps.clock());
}

/**
 * Re-authentication for sensitive changes, inside a signed-in session. Every attempt spends a point of that
 * session's own budget, and a correct password gives it back. Only the session's holder can spend it, so
 * strangers failing logins to the account never block it (and a session left open can guess only so fast).
 */
export async function checkCurrentPassword(deps: SettingsDeps, user: UserRecord, sessionIdHash: string, password: string, action: string, client: Client): Promise<void> {
  const key = `session:${sessionIdHash}`;
  await deps.limits.consume('reauthPerSession', key);
  const ok = password.length > 0 && [...password].length <= PASSWORD_MAX && (await verifyPassword(password, user.passwordHash));
  if (!ok) {
    await log(deps, deps.repos, 'account.reauth_failed', user.id, client, { action });
    throw new Forbidden(messages.wrongPassword, 'wrong_password');
  }
  await deps.limits.reset('reauthPerSession', key);
}

/**
 * Re-authentication within a session (staff actions, creating an API key): checks the password as above, then marks
 * the session so sensitive actions may follow for a few minutes. `action` names what asked, in the security log.
 */
export async function reauthenticate(deps: SettingsDeps, user: UserRecord, sessionIdHash: string, password: string, client: Client, action: 'staff_reauth' | 'api_key_create'): Promise<void> {
  await checkCurrentPassword(deps, user, sessionIdHash, password, action, client);
  await deps.repos.sessions.markReauthenticated(sessionIdHash, deps.clock());
}

export type SettingsView = { user: UserRecord; marketingHistory: ConsentEntry[] };

export async function settingsView(deps: SettingsDeps, userId: string): Promise<SettingsView> {
  const user = await deps.repos.users.findById(userId);
  if (!user) throw new NotFound();
  const history = await deps.repos.consentLog.listForUser(userId);
  return { user, marketingHistory: history.filter((e) => e.kind === 'marketing').reverse() };
}

/** Usernames are public, so a taken one is simply reported; changing only the case of your own is allowed. */
export async function changeUsername(deps: SettingsDeps, user: UserRecord, input: string, client: Client): Promise<void> {
  const username = validateUsername(input);
  if (username === user.username) return;
  if (usernameKey(username) !== usernameKey(user.username) && (await deps.repos.users.findByUsername(username))) {
    throw new BadRequest(messages.usernameTaken, 'username_taken');
  }
  try {
    await deps.repos.users.updateUsername(user.id, username);
  } catch (err) {
    if (isUniqueViolation(err)) throw new BadRequest(messages.usernameTaken, 'username_taken');
    throw err;
  }
  await log(deps, deps.repos, 'account.username_changed', user.id, client, { from: user.username, to: username });
}

/**
 * Moves the account to a new address, unverified, and mails a link to it. An address that belongs to another
 * account gets the same answer, and nothing happens: no change and no mail to that address (mailing a stranger
 * because someone typed their address would make us a spam relay).
 */
export async function changeEmail(deps: SettingsDeps, user: UserRecord, sessionIdHash: string, input: { email: string; currentPassword: string }, client: Client): Promise<void> {
  const email = validateEmail(input.email);
  if (email === user.email) throw new BadRequest(messages.emailUnchanged, 'email_unchanged');
  await checkCurrentPassword(deps, user, sessionIdHash, input.currentPassword, 'email', client);
  // Bounds how many addresses one account can probe for, on top of the password check.
  await deps.limits.consume('resetPerAccount', `email-change:${user.id}`);
  const owner = await deps.repos.users.findByEmail(email);
  if (owner && owner.id !== user.id) {
    await log(deps, deps.repos, 'account.email_change_ignored', user.id, client, { reason: 'address_in_use' });
    return;
  }
  // Nothing changes until the new address is confirmed (see verifyEmail), so the answer and the page are the
  // same whether or not the address was free.
  await log(deps, deps.repos, 'account.email_change_requested', user.id, client);
  sendLater(deps, () => sendEmailChangeLink(deps.auth, user, email));
}

export async function resendVerification(deps: SettingsDeps, user: UserRecord, client: Client): Promise<void> {
  if (user.emailVerifiedAt) throw new BadRequest(messages.alreadyVerified, 'already_verified');
  await deps.limits.consume('resetPerAccount', `verify:${user.id}`);
  await log(deps, deps.repos, 'account.verification_resent', user.id, client);
  sendLater(deps, () => sendVerification(deps.auth, user));
}

export type PasswordChange = { currentPassword: string; newPassword: string; signOutOthers: boolean };

/** Sets a new password; the current session always stays, the others end if asked. Open reset links and device cookies die. */
export async function changePassword(deps: SettingsDeps, user: UserRecord, currentSessionIdHash: string, input: PasswordChange, client: Client): Promise<{ signedOut: number }> {
  await checkCurrentPassword(deps, user, currentSessionIdHash, input.currentPassword, 'password', client);
  validateNewPassword(input.newPassword, { username: user.username, email: user.email });
  const hash = await hashPassword(input.newPassword, deps.bcryptCost);
  const now = deps.clock();
  let signedOut = 0;
  await deps.repos.transaction(async (tx) => {
    await tx.users.updatePasswordHash(user.id, hash);
    // Device cookies issued before stop counting, whether or not other sessions end: whoever knew the old password
    // could have minted any number of them by logging in.
    await tx.users.bumpDeviceEpoch(user.id);
    if (input.signOutOthers) signedOut = await tx.sessions.deleteAllForUser(user.id, { exceptIdHash: currentSessionIdHash });
    await log(deps, tx, 'account.password_changed', user.id, client, { signedOutOthers: signedOut });
  });
  for (const purpose of ['reset_password', 'change_email'] as const) await deps.repos.emailTokens.invalidateForUser(user.id, purpose, now);
  return { signedOut };
}

/** One consent_log row per change, with its time; saving the same value again records nothing. */
export async function setMarketingConsent(deps: SettingsDeps, user: UserRecord, value: boolean, client: Client): Promise<boolean> {
  if (user.marketingConsent === value) return false;
  const now = deps.clock();
  await deps.repos.transaction(async (tx) => {
    await tx.users.setMarketingConsent(user.id, value);
    await tx.consentLog.insert(user.id, { kind: 'marketing', value: value ? 'granted' : 'withdrawn', createdAt: now });
    await log(deps, tx, 'account.marketing_consent_changed', user.id, client, { value: value ? 'granted' : 'withdrawn' });
  });
  return true;
}

export type SessionView = { publicId: string; device: string; createdAt: Date; lastSeenAt: Date; current: boolean };

/** "Firefox 128 on Windows 10", "Mobile Safari 17 on iOS 17.5 (Apple iPhone)", or "Unknown browser". */
export function describeUserAgent(userAgent: string | null): string {
  if (!userAgent) return 'Unknown browser';
  const { browser, os, device } = new UAParser(userAgent).getResult();
  const name = browser.name ? `${browser.name}${browser.major ? ` ${browser.major}` : ''}` : 'Unknown browser';
  const system = os.name ? ` on ${os.name}${os.version ? ` ${os.version}` : ''}` : '';
  const hardware = device.vendor || device.model ? ` (${[device.vendor, device.model].filter(Boolean).join(' ')})` : '';
  return `${name}${system}${hardware}`;
}

export async function listSessions(deps: SettingsDeps, userId: string, currentPublicId: string): Promise<SessionView[]> {
  const sessions = await deps.repos.sessions.listForUser(userId, deps.clock());
  return sessions.map((s) => ({ publicId: s.publicId, device: describeUserAgent(s.userAgent), createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, current: s.publicId === currentPublicId }));
}

const PUBLIC_ID = /^[A-Za-z0-9]{16}$/;

/** Only the user's own sessions: another user's id is answered exactly like one that never existed. */
export async function revokeSession(deps: SettingsDeps, userId: string, publicId: string, client: Client): Promise<void> {
  if (!PUBLIC_ID.test(publicId) || !(await deps.repos.sessions.deleteForUser(userId, publicId))) throw new NotFound(messages.sessionNotFound, 'session_not_found');
  await log(deps, deps.repos, 'account.session_revoked', userId, client, { session: publicId });
}

export async function revokeOtherSessions(deps: SettingsDeps, userId: string, currentSessionIdHash: string, client: Client): Promise<number> {
  let count = 0;
  await deps.repos.transaction(async (tx) => {
    count = await tx.sessions.deleteAllForUser(userId, { exceptIdHash: currentSessionIdHash });
    // Signing out everywhere also forgets every browser as a known device (this one's included: it becomes known
    // again at its next login).
    await tx.users.bumpDeviceEpoch(userId);
    await log(deps, tx, 'account.sessions_revoked', userId, client, { count });
  });
  return count;
}
