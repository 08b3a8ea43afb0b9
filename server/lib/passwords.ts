import { createHash } from 'node:crypto';
import bcrypt from 'bcrypt';
import { dictionary } from '@zxcvbn-ts/language-common';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/**
 * bcrypt reads only the first 72 bytes and stops at a NUL, so two long passphrases sharing a prefix would hash
 * the same. Every password is first reduced to base64(SHA-256(password)) (44 ASCII bytes, no NUL): all 128
 * characters count, whatever their UTF-8 length.
 */
function prehash(password: string): string {
  return createHash('sha256').update(password.normalize('NFC'), 'utf8').digest('base64');
}

export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(prehash(password), cost);
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(prehash(password), hash);
}

/** The cost a stored hash was made with ($2b$12$… → 12). */
export const hashCost = (hash: string): number => Number(hash.split('$')[2]);

let dummy: Promise<string> | null = null;
/** Compares against a fixed hash when the account does not exist, so a miss takes as long as a wrong password. */
export async function verifyAgainstDummy(password: string, cost: number): Promise<false> {
  dummy ??= hashPassword('pixbin-dummy-password-for-timing', cost);
  await verifyPassword(password, await dummy);
  return false;
}

let common: Set<string> | null = null;
/** zxcvbn's ranked list of leaked passwords (~49k), bundled with the app; compared case-insensitively. */
export function isCommonPassword(password: string): boolean {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common.has(password.toLowerCase());
}

export type PasswordProblem = 'too_short' | 'too_long' | 'too_common';

/** No composition rules: length and the common-password list only (NIST SP 800-63B). */
export function passwordProblem(password: string, context: { username?: string; email?: string } = {}): PasswordProblem | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN) return 'too_short';
  if (length > PASSWORD_MAX) return 'too_long';
  const lower = password.toLowerCase();
  if (isCommonPassword(password) || lower === context.username?.toLowerCase() || lower === context.email?.toLowerCase()) return 'too_common';
  return null;
}
