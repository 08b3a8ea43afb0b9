import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Repos } from '../db/repos.js';
import { TooManyRequests } from '../errors.js';

/**
 * Rate limits with their counters in the database (table rate_limits, created by a migration), so every replica
 * counts the same attempts. Keys hold an IP address or an account id; rows expire with their window and the
 * limiter's hourly sweep removes them.
 */
export type LimitName = keyof typeof LIMITS;

const MINUTE = 60;
const HOUR = 60 * MINUTE;

/** points per duration (seconds) and how long a key stays blocked once it runs out. */
export const LIMITS = {
  loginPerIp: { points: 30, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  loginPerAccount: { points: 10, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  signupPerIp: { points: 10, duration: HOUR, blockDuration: HOUR },
  signupPerAddress: { points: 3, duration: HOUR, blockDuration: HOUR },
  resetPerIp: { points: 10, duration: HOUR, blockDuration: HOUR },
  resetPerAccount: { points: 3, duration: HOUR, blockDuration: HOUR },
  uploadPerIp: { points: 120, duration: HOUR, blockDuration: 0 },
  uploadPerAccount: { points: 300, duration: HOUR, blockDuration: 0 },
  deletePerIp: { points: 60, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
  reportPerIp: { points: 20, duration: HOUR, blockDuration: 0 },
  // The API: every call counts against its key and its account; failed key checks count against the address,
  // as many as the login form allows.
  apiPerKey: { points: 120, duration: MINUTE, blockDuration: 0 },
  apiPerAccount: { points: 300, duration: MINUTE, blockDuration: 0 },
  apiAuthFailPerIp: { points: 30, duration: 15 * MINUTE, blockDuration: 15 * MINUTE },
} as const;

/** What is left of a limit after a call: what the RateLimit-* headers say. */
export type LimitState = { limit: number; remaining: number; resetSeconds: number };

const message = (seconds: number) =>
  `Too many attempts. Please wait ${seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`} and try again.`;

export class RateLimited extends TooManyRequests {
  constructor(
    retryAfterSeconds: number,
    /** The limit that ran out (its points), for the RateLimit-* headers. */
    readonly limit?: number,
  ) {
    super(message(retryAfterSeconds), 'rate_limited', retryAfterSeconds);
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
        if (err instanceof RateLimiterRes) throw new RateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)), points(name));
        throw err;
      }
    },
    async check(name, key) {
      const res = await limiter(name).get(key);
      if (!res) return { limit: points(name), remaining: points(name), resetSeconds: 0 };
      if (res.remainingPoints <= 0 || res.consumedPoints > points(name)) throw new RateLimited(Math.max(1, Math.ceil(res.msBeforeNext / 1000)), points(name));
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
