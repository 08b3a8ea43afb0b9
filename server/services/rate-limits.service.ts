import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Repos } from '../db/repos.js';
import { TooManyRequests } from '../errors.js';

/**
 * Rate limits with their counters in the database (table rate_limits, created by a migration), so every replica
 * counts the same attempts. Keys hold an IP address, an account, device or session id, or a SHA-256 of an address
 * or login someone typed (never the text itself: see typedKey in known-devices.service.ts); rows expire with their
 * window and the limiter's hourly sweep removes them.
 */
export type LimitName = keyof typeof LIMITS;

const MINUTE = 60;
const HOUR = 60 * MINUTE;

/** points per duration (seconds) and how long a key stays blocked once it runs out. */
export const LIMITS = {
  loginPerIp: { points: 30, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  // Logins to an account from browsers that hold no device cookie for it (strangers, and the owner on a new
  // browser); spent only after the bot check. A browser the account logged in from spends loginPerDevice instead,
  // so strangers who exhaust this budget never lock the owner's own browsers out (OWASP's device cookies).
  loginPerAccount: { points: 10, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  loginPerDevice: { points: 10, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  signupPerIp: { points: 10, duration: HOUR, blockDuration: HOUR },
  signupPerAddress: { points: 3, duration: HOUR, blockDuration: HOUR },
  resetPerIp: { points: 10, duration: HOUR, blockDuration: HOUR },
  resetPerAccount: { points: 3, duration: HOUR, blockDuration: HOUR },
  resetPerDevice: { points: 3, duration: HOUR, blockDuration: HOUR },
  // Typing the password again inside a session (staff actions, API keys, settings): only that session can spend it.
  reauthPerSession: { points: 10, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  uploadPerIp: { points: 120, duration: HOUR, blockDuration: 0 },
  uploadPerAccount: { points: 300, duration: HOUR, blockDuration: 0 },
  deletePerIp: { points: 60, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  reportPerIp: { points: 20, duration: HOUR, blockDuration: 0 },
  // The API: every call counts against its key and its account; failed key checks count against the address,
  // as many as the login form allows.
  apiPerKey: { points: 120, duration: MINUTE, blockDuration: 0 },
  apiPerAccount: { points: 300, duration: MINUTE, blockDuration: 0 },
  apiAuthFailPerIp: { points: 30, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  // Webhooks' "Send test event" and Resend, together, per account (the instance's endpoints share one budget):
  // each is a request the dispatcher sends, so one account cannot fill the outbox for everyone.
  webhookTestPerAccount: { points: 30, duration: HOUR, blockDuration: 0 },
  // Challenges cost the server an HMAC and nothing stored: generous, as a whole office or CGNAT may share one address
  // and the check fails closed; this only stops one address from asking for tens of thousands.
  altchaChallengePerIp: { points: 3000, duration: HOUR, blockDuration: 0 },
} as const;

/** What is left of a limit after a call: what the RateLimit-* headers say. */
export type LimitState = { limit: number; remaining: number; resetSeconds: number };

const waitFor = (seconds: number) => (seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`);
const message = (seconds: number) => `Too many attempts. Please wait ${waitFor(seconds)} and try again.`;
/** Limits whose refusal needs more than "wait": what else the person can do. */
const MESSAGES: Partial<Record<LimitName, (seconds: number) => string>> = {
  // Worded the same for unknown names (their own key), so it tells nobody whether the account exists.
  loginPerAccount: (seconds) =>
    `Too many failed logins to this account from browsers it has not logged in from before. Please wait ${waitFor(seconds)} and try again, log in from a browser you have used for this account before, or reset your password.`,
  altchaChallengePerIp: (seconds) => `Too many bot-check challenges from this address. Please wait ${waitFor(seconds)} and try again.`,
  webhookTestPerAccount: (seconds) =>
    `Too many test events and resends for these webhooks (at most ${LIMITS.webhookTestPerAccount.points} an hour). Please wait ${waitFor(seconds)} and try again; new events are still sent meanwhile.`,
};

export class RateLimited extends TooManyRequests {
  constructor(
    retryAfterSeconds: number,
    /** The limit that ran out (its points), for the RateLimit-* headers. */
    readonly limit?: number,
    name?: LimitName,
  ) {
    super((name && MESSAGES[name]?.(retryAfterSeconds)) ?? message(retryAfterSeconds), 'rate_limited', retryAfterSeconds);
  }
}

export type RateLimits = {
  /** Spends one point; throws RateLimited (429) when none is left, else says what is left. */
  consume(name: LimitName, key: string): Promise<LimitState>;
  /** What is left, without spending; throws RateLimited when the key is blocked or used up. */
  check(name: LimitName, key: string): Promise<LimitState>;
  /** Gives points back, e.g. the one a request spent up front once it turns out to have been a good one. */
  reward(name: LimitName, key: string, points?: number): Promise<void>;
  /** Forgets a key's count, e.g. an account's failed logins after a successful one. */
  reset(name: LimitName, key: string): Promise<void>;
};

export function createRateLimits(repos: Pick<Repos, 'rateLimits'>, overrides: Partial<Record<LimitName, { points: number }>> = {}): RateLimits {
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  const limiter = (name: LimitName): RateLimiterAbstract => {
    let found = limiters.get(name);
    if (!found) {
      found = repos.rateLimits.limiter({ ...LIMITS[name], ...overrides[name], keyPrefix: name });
      limiters.set(name, found);
    }
    return found;
  };
  const points = (name: LimitName) => overrides[name]?.points ?? LIMITS[name].points;
  const stateOf = (name: LimitName, res: RateLimiterRes): LimitState => ({
    limit: points(name),
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)),
  });
  return {
    async consume(name, key) {
      try {
        return stateOf(name, await limiter(name).consume(key));
      } catch (err) {
        if (err instanceof RateLimiterRes) throw new RateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)), points(name), name);
        throw err;
      }
    },
    async check(name, key) {
      const res = await limiter(name).get(key);
      if (!res) return { limit: points(name), remaining: points(name), resetSeconds: 0 };
      if (res.remainingPoints <= 0 || res.consumedPoints > points(name)) throw new RateLimited(Math.max(1, Math.ceil(res.msBeforeNext / 1000)), points(name), name);
      return stateOf(name, res);
    },
    async reward(name, key, amount = 1) {
      await limiter(name).reward(key, amount);
    },
    async reset(name, key) {
      await limiter(name).delete(key);
    },
  };
}
