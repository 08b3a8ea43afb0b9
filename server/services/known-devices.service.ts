import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Repos } from '../db/repos.js';
import { randomBase62 } from '../lib/ids.js';
import { accountKey } from './auth.service.js';
import type { LimitName, RateLimits } from './rate-limits.service.js';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a successful login the
 * browser gets a cookie that proves it logged in to that account before. Attempts that present one spend that
 * device's own budget; every other client shares the account's "untrusted" budget. Strangers who spend the shared
 * budget lock out only strangers (and the owner on a new browser), never the browsers the owner already uses; a
 * stolen cookie is still held to its own small budget.
 *
 * The value is `<device id>.<HMAC-SHA256(secret, user id + device id)>`: a random id and a signature, nothing that
 * names the account in clear. It only verifies against the account it was issued for. The secret lives in the
 * database (app_secrets), like the CSRF secret, so every replica signs and checks alike.
 */
export const DEVICE_COOKIE_DAYS = 180;

const SECRET_NAME = 'device_cookie';
const ID_CHARS = 22; // base62: about 131 bits
const VALUE = /^([A-Za-z0-9]{22})\.([A-Za-z0-9_-]{43})$/;

export type KnownDevicesDeps = { repos: Pick<Repos, 'appSecrets' | 'users'>; limits: RateLimits; clock: () => Date };

/** Which budget an attempt spends: its name and key in the rate limits. */
export type Budget = { name: LimitName; key: string };

export type KnownDevices = {
  /** A fresh device cookie value for a browser that just logged in to this account. */
  issue(userId: string): Promise<string>;
  /** The device id in a cookie value issued to this account; null when absent, malformed, forged or another account's. */
  deviceOf(value: string | undefined, userId: string): Promise<string | null>;
  /**
   * Spends one login attempt, after the bot check: from the device's budget when the cookie is this account's,
   * else from the account's shared budget (unknown names get a key of their own, so a refusal says nothing about
   * whether an account exists). Returns the budget so that a successful login can clear it.
   */
  spendLogin(login: string, cookie: string | undefined): Promise<Budget>;
  /** Spends one password-reset request, after the bot check: per device for a known device, else per address. */
  spendReset(email: string, cookie: string | undefined): Promise<Budget>;
};

export function knownDevices(deps: KnownDevicesDeps): KnownDevices {
  let secret: Promise<string> | null = null;
  const key = () =>
    (secret ??= deps.repos.appSecrets.getOrCreate(SECRET_NAME, () => randomBase62(64), deps.clock()).catch((err: unknown) => {
      secret = null; // ask the database again next time
      throw err;
    }));
  const sign = async (userId: string, deviceId: string) => createHmac('sha256', await key()).update(`${userId}.${deviceId}`).digest('base64url');

  const deviceOf = async (value: string | undefined, userId: string): Promise<string | null> => {
    const match = value ? VALUE.exec(value) : null;
    if (!match) return null;
    const given = Buffer.from(match[2]!);
    const expected = Buffer.from(await sign(userId, match[1]!));
    return given.length === expected.length && timingSafeEqual(given, expected) ? match[1]! : null;
  };
  const spend = async (budget: Budget): Promise<Budget> => {
    await deps.limits.consume(budget.name, budget.key);
    return budget;
  };

  return {
    async issue(userId) {
      const deviceId = randomBase62(ID_CHARS);
      return `${deviceId}.${await sign(userId, deviceId)}`;
    },
    deviceOf,
    async spendLogin(login, cookie) {
      const user = login ? await deps.repos.users.findByLogin(login) : null;
      const device = user && cookie ? await deviceOf(cookie, user.id) : null;
      if (device) return spend({ name: 'loginPerDevice', key: `device:${device}` });
      return spend({ name: 'loginPerAccount', key: user ? accountKey(user.id) : `unknown:${login || '(empty)'}` });
    },
    async spendReset(email, cookie) {
      const user = email && cookie ? await deps.repos.users.findByEmail(email) : null;
      const device = user ? await deviceOf(cookie, user.id) : null;
      if (device) return spend({ name: 'resetPerDevice', key: `device:${device}` });
      return spend({ name: 'resetPerAccount', key: email || '(empty)' });
    },
  };
}
