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
} as const;

const message = (seconds: number) =>
  `Too many attempts. Please wait ${seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`} and try again.`;

export class RateLimited extends TooManyRequests {
  constructor(retryAfterSeconds: number) {
    super(message(retryAfterSeconds), 'rate_limited', retryAfterSeconds);
  }
}

export type RateLimits = {
  /** Spends one point for each key; throws RateLimited (429) when any of them has none left. */
  consume(name: LimitName, key: string): Promise<void>;
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
  return {
    async consume(name, key) {
      try {
        await limiter(name).consume(key);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw new RateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
        throw err;
      }
    },
    async reset(name, key) {
      await limiter(name).delete(key);
    },
  };
}
