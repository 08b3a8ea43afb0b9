import type { Knex } from 'knex';
import { isUniqueViolation } from './knex.js';

/** Solved ALTCHA challenges, by signature, until they expire: shared by every replica. */
export function createAltchaSpentRepo(db: Knex) {
  return {
    /**
     * Records the challenge as spent. True for the first caller only: the primary key makes a second insert fail,
     * whichever replica tries it.
     */
    async spend(signature: string, expiresAt: Date): Promise<boolean> {
      try {
        await db('altcha_spent').insert({ signature, expires_at: expiresAt });
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    /** Removes challenges that expired before `now` (they are refused as expired anyway); returns how many. */
    async deleteExpired(now: Date): Promise<number> {
      return db('altcha_spent').where('expires_at', '<', now).delete();
    },

    async count(): Promise<number> {
      const row = (await db('altcha_spent').count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type AltchaSpentRepo = ReturnType<typeof createAltchaSpentRepo>;
