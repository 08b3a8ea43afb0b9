import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { sha256Hex } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import { accountKey } from './auth.service.js';
import type { LimitName } from './rate-limits.service.js';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a successful login the
 * browser gets a cookie that proves it logged in to that account before. Attempts that present one spend that
 * device's own budget instead of the shared ones (its address's and the account's); every other client shares the
 * account's "untrusted" budget. Strangers who spend the shared budget lock out only strangers (and the owner on a
 * new browser), never the browsers the owner already uses; a stolen cookie is still held to its own small budget.
 *
 * The value is `<device id>.<issued at, unix seconds>.<epoch>.<HMAC-SHA256(secret, user id, device id, issued at,
 * epoch)>`: a random id, its issue time, the account's device epoch and a signature, nothing that names the account
 * in clear. It only verifies against the account it was issued for, for DEVICE_COOKIE_DAYS after its issue (the
 * server checks, whatever the browser keeps), and only while the account's device epoch is the one it was signed
 * with: a password change, a password reset and signing out every other device raise the epoch, so every cookie
 * issued before (a stolen one, or any number minted by someone who once knew the password) stops counting at once.
 * The secret lives in the database (app_secrets), like the CSRF secret, so every replica signs and checks alike.
 */
export const DEVICE_COOKIE_DAYS = 180;

const SECRET_NAME = 'device_cookie';
const ID_CHARS = 22; // base62: about 131 bits
const VALUE = /^([A-Za-z0-9]{22})\.([0-9]{1,12})\.([0-9]{1,10})\.([A-Za-z0-9_-]{43})$/;
const DAY_SECONDS = 24 * 60 * 60;

export type KnownDevicesDeps = { repos: Pick<Repos, 'appSecrets' | 'users'>; clock: () => Date };

/** Which budget an attempt spends: its name and key in the rate limits. */
export type Budget = { name: LimitName; key: string };

/** The account a device cookie is checked against: its id and current device epoch. */
export type DeviceAccount = Pick<UserRecord, 'id' | 'deviceEpoch'>;

export type KnownDevices = {
  /** A fresh device cookie value for a browser that just logged in to this account. */
  issue(user: DeviceAccount): Promise<string>;
  /**
   * The device id in a cookie value issued to this account; null when absent, malformed, forged, another account's,
   * older than DEVICE_COOKIE_DAYS, or from before the account's device epoch last rose.
   */
  deviceOf(value: string | undefined, user: DeviceAccount): Promise<string | null>;
  /**
   * The budget a login attempt spends (spend it after the bot check): the device's own when the cookie is this
   * account's, else the account's shared budget (unknown names get a key of their own, a hash of what was typed, so
   * a refusal says nothing about whether an account exists and the table holds no login in clear).
   */
  loginBudget(login: string, cookie: string | undefined): Promise<Budget>;
  /** The budget a password-reset request spends: per device for a known device, else per address (hashed). */
  resetBudget(email: string, cookie: string | undefined): Promise<Budget>;
};

/** Whether a budget belongs to a known device (which then spends no per-address budget either). */
export const isDeviceBudget = (budget: Budget): boolean => budget.name === 'loginPerDevice' || budget.name === 'resetPerDevice';

/**
 * The rate-limit key for something a person typed (an email address, a login): a SHA-256 of its normalised form, so
 * keys have a fixed length whatever was typed, and the table never holds an address, a name or a mistyped password.
 */
export const typedKey = (value: string): string => sha256Hex(value.trim().toLowerCase());

export function knownDevices(deps: KnownDevicesDeps): KnownDevices {
  let secret: Promise<string> | null = null;
  const key = () =>
    (secret ??= deps.repos.appSecrets.getOrCreate(SECRET_NAME, () => randomBase62(64), deps.clock()).catch((err: unknown) => {
      secret = null; // ask the database again next time
      throw err;
    }));
  const sign = async (userId: string, deviceId: string, issuedAt: string, epoch: string) =>
    createHmac('sha256', await key()).update(`${userId}.${deviceId}.${issuedAt}.${epoch}`).digest('base64url');

  const deviceOf = async (value: string | undefined, user: DeviceAccount): Promise<string | null> => {
    const match = value ? VALUE.exec(value) : null;
    if (!match) return null;
    const [, deviceId, issuedAt, epoch, signature] = match as unknown as [string, string, string, string, string];
    if (Number(epoch) !== user.deviceEpoch) return null;
    if (deps.clock().getTime() / 1000 - Number(issuedAt) > DEVICE_COOKIE_DAYS * DAY_SECONDS) return null;
    const given = Buffer.from(signature);
    const expected = Buffer.from(await sign(user.id, deviceId, issuedAt, epoch));
    return given.length === expected.length && timingSafeEqual(given, expected) ? deviceId : null;
  };
  // Only a value shaped like a device cookie is worth a database lookup.
  const plausible = (cookie: string | undefined): cookie is string => cookie !== undefined && VALUE.test(cookie);

  return {
    async issue(user) {
      const deviceId = randomBase62(ID_CHARS);
      const issuedAt = String(Math.floor(deps.clock().getTime() / 1000));
      const epoch = String(user.deviceEpoch);
      return `${deviceId}.${issuedAt}.${epoch}.${await sign(user.id, deviceId, issuedAt, epoch)}`;
    },
    deviceOf,
    async loginBudget(login, cookie) {
      const user = login ? await deps.repos.users.findByLogin(login) : null;
      const device = user && plausible(cookie) ? await deviceOf(cookie, user) : null;
      if (device) return { name: 'loginPerDevice', key: `device:${device}` };
      return { name: 'loginPerAccount', key: user ? accountKey(user.id) : `unknown:${typedKey(login)}` };
    },
    async resetBudget(email, cookie) {
      const user = email && plausible(cookie) ? await deps.repos.users.findByEmail(email) : null;
      const device = user ? await deviceOf(cookie, user) : null;
      if (device) return { name: 'resetPerDevice', key: `device:${device}` };
      return { name: 'resetPerAccount', key: typedKey(email) };
    },
  };
}
