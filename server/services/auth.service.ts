import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { isUniqueViolation } from '../db/knex.js';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { BadRequest, Forbidden } from '../errors.js';
import { sha256Hex } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword, PASSWORD_MAX, PASSWORD_MIN } from '../lib/passwords.js';
import { emails } from './emails.js';
import type { Mailer } from './mailer.service.js';

export const VERIFY_TTL_HOURS = 48;
export const RESET_TTL_MINUTES = 60;
const USERNAME = /^[A-Za-z0-9_-]{3,32}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const RESERVED = new Set(['admin', 'administrator', 'root', 'pixbin', 'api', 'login', 'logout', 'signup', 'account', 'settings', 'support', 'abuse', 'moderator', 'system']);

export const messages = {
  badLogin: 'That username or email and password do not match an account.',
  // Shown only after the right password, so it says nothing to someone guessing.
  suspended: (reason: string) => `This account is suspended, so it cannot sign in or upload. The moderators gave this reason: ${reason}`,
  checkEmail: 'Check your inbox: we sent a link to confirm the address. It may take a minute to arrive.',
  resetSent: 'If an account uses that address, we have sent it a link to reset the password. It works for one hour.',
  username: 'Choose a username of 3 to 32 letters, digits, - or _.',
  usernameTaken: 'That username is taken. Please choose another.',
  email: 'Enter a valid email address.',
  age: (min: number) => `You must be at least ${min} years old to create an account.`,
  terms: 'Please accept the terms of service and the privacy policy.',
  password: {
    too_short: `Use at least ${PASSWORD_MIN} characters for your password.`,
    too_long: `Use at most ${PASSWORD_MAX} characters for your password.`,
    too_common: 'That password is too common (or matches your name or email). Please choose another one.',
  },
  badToken: 'This link is invalid, has expired or was already used. Ask for a new one.',
  emailTakenMeanwhile: 'That address now belongs to another account, so your address was not changed.',
  wrongPassword: 'Your current password is not correct.',
};

export type AuthDeps = {
  repos: Repos;
  mailer: Mailer;
  logger: Logger;
  clock: () => Date;
  settings: { bcryptCost: number; publicUrl: string; termsVersion: string; minAge: number };
};

type Client = { ip: string | undefined; userAgent: string | undefined; country?: string | null };

export function validateUsername(username: string): string {
  const trimmed = username.trim();
  if (!USERNAME.test(trimmed)) throw new BadRequest(messages.username, 'invalid_username');
  if (RESERVED.has(trimmed.toLowerCase())) throw new BadRequest(messages.usernameTaken, 'username_taken');
  return trimmed;
}

export function validateEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed.length > 254 || !EMAIL.test(trimmed)) throw new BadRequest(messages.email, 'invalid_email');
  return trimmed;
}

export function validateNewPassword(password: string, context: { username?: string; email?: string }): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new BadRequest(messages.password[problem], `password_${problem}`);
}

const newToken = () => randomBytes(32).toString('base64url');

/** Creates and mails a verification link for the account's current address. */
export async function sendVerification(deps: AuthDeps, user: Pick<UserRecord, 'id' | 'username' | 'email'>): Promise<void> {
  const token = newToken();
  const now = deps.clock();
  await deps.repos.emailTokens.invalidateForUser(user.id, 'verify_email', now);
  await deps.repos.emailTokens.insert({ tokenHash: sha256Hex(token), userId: user.id, purpose: 'verify_email', email: user.email, createdAt: now, expiresAt: new Date(now.getTime() + VERIFY_TTL_HOURS * 3600_000) });
  await deps.mailer.send(emails.verify(user.email, user.username, `${deps.settings.publicUrl}/verify-email/${token}`, VERIFY_TTL_HOURS));
}

/**
 * Starts a change of address: the account keeps its current address until the link sent to the new one is
 * followed, so the settings page looks the same whether or not the new address was free.
 */
export async function sendEmailChangeLink(deps: AuthDeps, user: Pick<UserRecord, 'id' | 'username'>, newEmail: string): Promise<void> {
  const token = newToken();
  const now = deps.clock();
  await deps.repos.emailTokens.invalidateForUser(user.id, 'change_email', now);
  await deps.repos.emailTokens.insert({ tokenHash: sha256Hex(token), userId: user.id, purpose: 'change_email', email: newEmail, createdAt: now, expiresAt: new Date(now.getTime() + VERIFY_TTL_HOURS * 3600_000) });
  await deps.mailer.send(emails.verify(newEmail, user.username, `${deps.settings.publicUrl}/verify-email/${token}`, VERIFY_TTL_HOURS));
}

/** Mail goes out after the response so that its duration cannot tell an attacker which branch ran. */
function sendLater(deps: AuthDeps, work: () => Promise<void>): void {
  setImmediate(() => work().catch((err: unknown) => deps.logger.error({ err }, 'sending an email failed')));
}

export type SignupInput = { username: string; email: string; password: string; ageConfirmed: boolean; termsAccepted: boolean; marketing: boolean };

/**
 * Creates an account. An address that already has an account gets the same answer and similar timing, and its
 * owner gets a heads-up email instead; usernames are public (profile pages), so a taken one is simply reported.
 */
export async function signUp(deps: AuthDeps, input: SignupInput, client: Client): Promise<void> {
  const username = validateUsername(input.username);
  const email = validateEmail(input.email);
  validateNewPassword(input.password, { username, email });
  if (!input.ageConfirmed) throw new BadRequest(messages.age(deps.settings.minAge), 'age_not_confirmed');
  if (!input.termsAccepted) throw new BadRequest(messages.terms, 'terms_not_accepted');
  if (await deps.repos.users.findByUsername(username)) throw new BadRequest(messages.usernameTaken, 'username_taken');

  const passwordHash = await hashPassword(input.password, deps.settings.bcryptCost);
  const existing = await deps.repos.users.findByEmail(email);
  if (existing) {
    const base = deps.settings.publicUrl;
    sendLater(deps, () => deps.mailer.send(emails.alreadyRegistered(existing.email, `${base}/login`, `${base}/forgot-password`)));
    return;
  }
  const now = deps.clock();
  const user = { id: randomBase62(16), username, email, passwordHash, marketingConsent: input.marketing, createdAt: now };
  try {
    await deps.repos.transaction(async (tx) => {
      await tx.users.insert(user);
      const country = client.country ?? null;
      await tx.consentLog.insert(user.id, { kind: 'terms', value: deps.settings.termsVersion, createdAt: now, country });
      await tx.consentLog.insert(user.id, { kind: 'age', value: `at least ${deps.settings.minAge}`, createdAt: now, country });
      await tx.consentLog.insert(user.id, { kind: 'marketing', value: input.marketing ? 'granted' : 'declined', createdAt: now, country });
      await tx.securityLog.insert({ event: 'auth.signup', userId: user.id, ip: client.ip, userAgent: client.userAgent }, now);
    });
  } catch (err) {
    // Two sign-ups racing for one name or address: the loser gets the answer it would have got a moment later.
    if (!isUniqueViolation(err)) throw err;
    if (await deps.repos.users.findByUsername(username)) throw new BadRequest(messages.usernameTaken, 'username_taken');
    return;
  }
  sendLater(deps, () => sendVerification(deps, user));
}

/** The rate-limit key of an account, however it is named at login (see known-devices.service.ts). */
export const accountKey = (userId: string): string => `user:${userId}`;

/** Checks a login; unknown accounts are compared against a dummy hash so both answers take as long. */
export async function authenticate(deps: AuthDeps, login: string, password: string, client: Client): Promise<UserRecord> {
  const user = login.trim() && [...password].length <= PASSWORD_MAX ? await deps.repos.users.findByLogin(login.trim()) : null;
  const ok = user ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password, deps.settings.bcryptCost);
  const now = deps.clock();
  await deps.repos.securityLog.insert({ event: ok ? 'auth.login' : 'auth.login_failed', userId: user?.id ?? null, ip: client.ip, userAgent: client.userAgent }, now);
  if (!user || !ok) throw new Forbidden(messages.badLogin, 'bad_login');
  if (user.suspendedAt) throw new Forbidden(messages.suspended(user.suspendedReason ?? ''), 'account_suspended');
  return user;
}

/** Always the same answer; the email goes out only when the address belongs to an account. */
export async function requestPasswordReset(deps: AuthDeps, emailInput: string, client: Client): Promise<void> {
  const email = validateEmail(emailInput);
  const user = await deps.repos.users.findByEmail(email);
  const now = deps.clock();
  await deps.repos.securityLog.insert({ event: 'auth.reset_requested', userId: user?.id ?? null, ip: client.ip, userAgent: client.userAgent }, now);
  if (!user) return;
  // Token writes and mail happen after the response, so both answers take the same time.
  sendLater(deps, async () => {
    const token = newToken();
    await deps.repos.emailTokens.invalidateForUser(user.id, 'reset_password', now);
    await deps.repos.emailTokens.insert({ tokenHash: sha256Hex(token), userId: user.id, purpose: 'reset_password', email: null, createdAt: now, expiresAt: new Date(now.getTime() + RESET_TTL_MINUTES * 60_000) });
    await deps.mailer.send(emails.reset(user.email, user.username, `${deps.settings.publicUrl}/reset-password/${token}`, RESET_TTL_MINUTES));
  });
}

export async function isResetTokenUsable(deps: AuthDeps, token: string): Promise<boolean> {
  return (await deps.repos.emailTokens.findUsable(sha256Hex(token), 'reset_password', deps.clock())) !== null;
}

/** Sets a new password from a reset link, signs out every session and every device cookie, and does not sign anyone in. */
export async function resetPassword(deps: AuthDeps, token: string, password: string, client: Client): Promise<void> {
  const now = deps.clock();
  const usable = await deps.repos.emailTokens.findUsable(sha256Hex(token), 'reset_password', now);
  const user = usable ? await deps.repos.users.findById(usable.userId) : null;
  if (!user) throw new BadRequest(messages.badToken, 'bad_token');
  // A rejected password leaves the link usable, so the user can simply try another one.
  validateNewPassword(password, { username: user.username, email: user.email });
  const hash = await hashPassword(password, deps.settings.bcryptCost);
  if (!(await deps.repos.emailTokens.consume(sha256Hex(token), 'reset_password', now))) throw new BadRequest(messages.badToken, 'bad_token');
  await deps.repos.transaction(async (tx) => {
    await tx.users.updatePasswordHash(user.id, hash);
    await tx.sessions.deleteAllForUser(user.id, {});
    // Every device cookie issued so far stops counting as a known browser, as the reset email promises.
    await tx.users.bumpDeviceEpoch(user.id);
    // Links mailed before the reset (another email change, another reset) may be the intruder's: void them.
    for (const purpose of ['reset_password', 'change_email'] as const) await tx.emailTokens.invalidateForUser(user.id, purpose, now);
    await tx.securityLog.insert({ event: 'auth.password_reset', userId: user.id, ip: client.ip, userAgent: client.userAgent }, now);
  });
}

/**
 * Follows a verification link: confirms the account's address (sign-up), or switches the account to the new
 * address it was sent to (a change from the settings page). A link for an address the account no longer uses
 * does nothing.
 */
export async function verifyEmail(deps: AuthDeps, token: string): Promise<void> {
  const now = deps.clock();
  const hash = sha256Hex(token);
  const confirm = await deps.repos.emailTokens.consume(hash, 'verify_email', now);
  if (confirm) {
    if (!confirm.email || !(await deps.repos.users.markEmailVerified(confirm.userId, confirm.email, now))) throw new BadRequest(messages.badToken, 'bad_token');
    return;
  }
  const change = await deps.repos.emailTokens.consume(hash, 'change_email', now);
  if (!change?.email) throw new BadRequest(messages.badToken, 'bad_token');
  try {
    await deps.repos.users.replaceEmailVerified(change.userId, change.email, now);
    // Reset links went to the old address; they must not outlive the switch.
    await deps.repos.emailTokens.invalidateForUser(change.userId, 'reset_password', now);
  } catch (err) {
    if (isUniqueViolation(err)) throw new BadRequest(messages.emailTakenMeanwhile, 'email_taken');
    throw err;
  }
}
