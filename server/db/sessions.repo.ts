import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';

export type SessionRecord = {
  idHash: string;
  publicId: string;
  userId: string;
  userAgent: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  absoluteExpiresAt: Date;
  /** When the user last confirmed their password in this session (staff re-authentication). */
  reauthAt?: Date | null;
};

const fromRow = (r: Record<string, unknown>): SessionRecord => ({
  idHash: String(r.id_hash),
  publicId: String(r.public_id),
  userId: String(r.user_id),
  userAgent: r.user_agent === null ? null : String(r.user_agent),
  createdAt: toDate(r.created_at),
  lastSeenAt: toDate(r.last_seen_at),
  expiresAt: toDate(r.expires_at),
  absoluteExpiresAt: toDate(r.absolute_expires_at),
  reauthAt: toDateOrNull(r.reauth_at),
});

export function createSessionsRepo(db: Knex) {
  return {
    async insert(s: SessionRecord): Promise<void> {
      await db('sessions').insert({
        id_hash: s.idHash,
        public_id: s.publicId,
        user_id: s.userId,
        user_agent: s.userAgent,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
        absolute_expires_at: s.absoluteExpiresAt,
      });
    },
    async findActive(idHash: string, now: Date): Promise<SessionRecord | null> {
      const row = await db('sessions').where({ id_hash: idHash }).andWhere('expires_at', '>', now).andWhere('absolute_expires_at', '>', now).first();
      return row ? fromRow(row as Record<string, unknown>) : null;
    },
    async touch(idHash: string, lastSeenAt: Date, expiresAt: Date): Promise<void> {
      await db('sessions').where({ id_hash: idHash }).update({ last_seen_at: lastSeenAt, expires_at: expiresAt });
    },
    async markReauthenticated(idHash: string, at: Date): Promise<void> {
      await db('sessions').where({ id_hash: idHash }).update({ reauth_at: at });
    },
    async delete(idHash: string): Promise<void> {
      await db('sessions').where({ id_hash: idHash }).delete();
    },
    /** Owner-scoped: a user can revoke only their own sessions. */
    async deleteForUser(userId: string, publicId: string): Promise<boolean> {
      return (await db('sessions').where({ user_id: userId, public_id: publicId }).delete()) > 0;
    },
    async deleteAllForUser(userId: string, options: { exceptIdHash?: string } = {}): Promise<number> {
      const query = db('sessions').where({ user_id: userId });
      if (options.exceptIdHash) query.whereNot({ id_hash: options.exceptIdHash });
      return query.delete();
    },
    /** Removes sessions past their idle or absolute expiry; returns how many. */
    async deleteExpired(now: Date): Promise<number> {
      return db('sessions').where('expires_at', '<', now).orWhere('absolute_expires_at', '<', now).delete();
    },
    async listForUser(userId: string, now: Date): Promise<SessionRecord[]> {
      const rows = await db('sessions').where({ user_id: userId }).andWhere('expires_at', '>', now).andWhere('absolute_expires_at', '>', now).orderBy('last_seen_at', 'desc');
      return (rows as Array<Record<string, unknown>>).map(fromRow);
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
