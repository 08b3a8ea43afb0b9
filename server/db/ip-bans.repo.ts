import type { Knex } from 'knex';
import { toDate } from './knex.js';

/** Upload bans by address range. Every ban expires (at most IP_LOG_RETENTION_DAYS ahead); a job deletes expired ones. */
export type IpBan = { id: string; cidr: string; reason: string | null; createdAt: Date; expiresAt: Date };

const fromRow = (r: Record<string, unknown>): IpBan => ({
  id: String(r.id),
  cidr: String(r.cidr),
  reason: (r.reason as string | null) ?? null,
  createdAt: toDate(r.created_at),
  expiresAt: toDate(r.expires_at),
});

export function createIpBansRepo(db: Knex) {
  return {
    /** Bans still in force at `now`, newest first. */
    async listActive(now: Date): Promise<IpBan[]> {
      return ((await db('ip_bans').where('expires_at', '>', now).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])) as Array<Record<string, unknown>>).map(fromRow);
    },

    async insert(ban: IpBan & { createdBy: string | null }): Promise<void> {
      await db('ip_bans').insert({ id: ban.id, cidr: ban.cidr, reason: ban.reason, created_by: ban.createdBy, created_at: ban.createdAt, expires_at: ban.expiresAt });
    },

    /** Lifts a ban; false when it had already ended or been lifted. */
    async delete(id: string): Promise<boolean> {
      return (await db('ip_bans').where({ id }).delete()) > 0;
    },

    /** Deletes bans that ended at or before `now` (the range is not kept past its ban); returns how many. */
    async deleteExpired(now: Date): Promise<number> {
      return db('ip_bans').where('expires_at', '<=', now).delete();
    },

    /** For an account purge: bans stay in force without naming the staff member who set them. */
    async forgetCreator(userId: string): Promise<void> {
      await db('ip_bans').where({ created_by: userId }).update({ created_by: null });
    },
  };
}

export type IpBansRepo = ReturnType<typeof createIpBansRepo>;
