import type { Knex } from 'knex';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Strikes: copyright notices upheld against an account's images within the policy window. A notice whose
 * counter-notice was accepted (status reversed) no longer counts.
 */
export async function countStrikes(db: Knex, userId: string, now: Date, windowDays: number): Promise<number> {
  const row = (await db('reports')
    .where({ owner_id: userId, reason: 'copyright', status: 'actioned' })
    .andWhere('resolved_at', '>', new Date(now.getTime() - windowDays * DAY_MS))
    .count({ n: '*' })
    .first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}
