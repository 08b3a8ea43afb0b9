import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Dialect } from './knex.js';

export type LimiterOptions = { keyPrefix: string; points: number; duration: number; blockDuration: number };

/**
 * The rate_limits table (created by a migration). rate-limiter-flexible writes its counters itself, through the
 * knex client handed to it here; a row's key is "<keyPrefix>:<key>" and `expire` its end in epoch milliseconds.
 */
export function createRateLimitsRepo(db: Knex, dialect: Dialect) {
  return {
    /** A limiter whose counters live in the table, so every replica counts the same attempts. */
    limiter(options: LimiterOptions): RateLimiterAbstract {
      const opts = { ...options, tableName: 'rate_limits', tableCreated: true, clearExpiredByTimeout: true, storeClient: db, storeType: 'knex' };
      return dialect === 'postgres' ? new RateLimiterPostgres(opts) : new RateLimiterSQLite(opts);
    },

    /** Forgets these counters (full keys, prefix included). */
    async deleteKeys(keys: readonly string[]): Promise<number> {
      return keys.length ? db('rate_limits').whereIn('key', [...keys]).delete() : 0;
    },

    /** Removes counters whose window ended before `now`. */
    async deleteExpired(now: Date): Promise<number> {
      return db('rate_limits').where('expire', '<', now.getTime()).delete();
    },
  };
}

export type RateLimitsRepo = ReturnType<typeof createRateLimitsRepo>;
