import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';
import { sessionRowsChanged } from './session-writes.js';
import { userFromRow, type UserRecord } from './users.repo.js';

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

/** The sessions columns under names that cannot clash with the users columns in the join. */
const SESSION_COLUMNS = ['id_hash', 'public_id', 'user_id', 'user_agent', 'created_at', 'last_seen_at', 'expires_at', 'absolute_expires_at', 'reauth_at'].map(
  (c) => `sessions.${c} as session_${c}`,
);

export function createSessionsRepo(db: Knex) {
  /** Every write but the last_seen touch tells the session lookup caches (see session-writes.ts). */
  const changed = <T>(result: T): T => {
    sessionRowsChanged(db);
    return result;
  };
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
      changed(undefined);
    },
    async findActive(idHash: string, now: Date): Promise<SessionRecord | null> {
      const row = await db('sessions').where({ id_hash: idHash }).andWhere('expires_at', '>', now).andWhere('absolute_expires_at', '>', now).first();
      return row ? fromRow(row as Record<string, unknown>) : null;
    },
    /** The live session and its account in one query (what every signed-in request resolves). */
    async findActiveWithUser(idHash: string, now: Date): Promise<{ session: SessionRecord; user: UserRecord } | null> {
      const row = (await db('sessions')
        .join('users', 'users.id', 'sessions.user_id')
        .where('sessions.id_hash', idHash)
        .andWhere('sessions.expires_at', '>', now)
        .andWhere('sessions.absolute_expires_at', '>', now)
        .first(['users.*', ...SESSION_COLUMNS])) as Record<string, unknown> | undefined;
      if (!row) return null;
      const session = Object.fromEntries(Object.entries(row).filter(([k]) => k.startsWith('session_')).map(([k, v]) => [k.slice('session_'.length), v]));
      return { session: fromRow(session), user: userFromRow(row) };
    },
    /** Not a change the lookup caches need to hear of: they hold no last_seen. */
    async touch(idHash: string, lastSeenAt: Date, expiresAt: Date): Promise<void> {
      await db('sessions').where({ id_hash: idHash }).update({ last_seen_at: lastSeenAt, expires_at: expiresAt });
    },
    async markReauthenticated(idHash: string, at: Date): Promise<void> {
      changed(await db('sessions').where({ id_hash: idHash }).update({ reauth_at: at }));
    },
    async delete(idHash: string): Promise<void> {
      changed(await db('sessions').where({ id_hash: idHash }).delete());
    },
    /** Owner-scoped: a user can revoke only their own sessions. */
    async deleteForUser(userId: string, publicId: string): Promise<boolean> {
      return changed(await db('sessions').where({ user_id: userId, public_id: publicId }).delete()) > 0;
    },
    async deleteAllForUser(userId: string, options: { exceptIdHash?: string } = {}): Promise<number> {
      const query = db('sessions').where({ user_id: userId });
      if (options.exceptIdHash) query.whereNot({ id_hash: options.exceptIdHash });
      return changed(await query.delete());
    },
    /** Removes sessions past their idle or absolute expiry; returns how many. */
    async deleteExpired(now: Date): Promise<number> {
      return changed(await db('sessions').where('expires_at', '<', now).orWhere('absolute_expires_at', '<', now).delete());
    },
    async listForUser(userId: string, now: Date): Promise<SessionRecord[]> {
      const rows = await db('sessions').where({ user_id: userId }).andWhere('expires_at', '>', now).andWhere('absolute_expires_at', '>', now).orderBy('last_seen_at', 'desc');
      return (rows as Array<Record<string, unknown>>).map(fromRow);
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
