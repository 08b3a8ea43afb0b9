import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';

/** An API key as stored: never the secret itself, only its SHA-256. */
export type ApiKeyRecord = {
  id: string;
  userId: string;
  name: string;
  scopes: string[];
  secretHash: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

const fromRow = (r: Record<string, unknown>): ApiKeyRecord => ({
  id: String(r.id),
  userId: String(r.user_id),
  name: String(r.name),
  scopes: String(r.scopes).split(' ').filter(Boolean),
  secretHash: String(r.secret_hash),
  createdAt: toDate(r.created_at),
  expiresAt: toDateOrNull(r.expires_at),
  lastUsedAt: toDateOrNull(r.last_used_at),
  revokedAt: toDateOrNull(r.revoked_at),
});

export function createApiKeysRepo(db: Knex) {
  return {
    async insert(key: Omit<ApiKeyRecord, 'lastUsedAt' | 'revokedAt'>): Promise<void> {
      await db('api_keys').insert({
        id: key.id,
        user_id: key.userId,
        name: key.name,
        scopes: key.scopes.join(' '),
        secret_hash: key.secretHash,
        created_at: key.createdAt,
        expires_at: key.expiresAt,
      });
    },
    async findById(id: string): Promise<ApiKeyRecord | null> {
      const row = await db('api_keys').where({ id }).first();
      return row ? fromRow(row as Record<string, unknown>) : null;
    },
    /** Every key of an account, revoked ones included, newest first. */
    async listForUser(userId: string): Promise<ApiKeyRecord[]> {
      const rows = await db('api_keys').where({ user_id: userId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
      return (rows as Array<Record<string, unknown>>).map(fromRow);
    },
    /** Owner-scoped revocation; false when the key is not the user's or was already revoked. */
    async revoke(userId: string, id: string, at: Date): Promise<boolean> {
      return (await db('api_keys').where({ id, user_id: userId }).whereNull('revoked_at').update({ revoked_at: at })) > 0;
    },
    /** Records a use, at most once a minute per key: the write happens only when the stored time is older. */
    async touch(id: string, at: Date): Promise<void> {
      const staleBefore = new Date(at.getTime() - 60_000);
      await db('api_keys')
        .where({ id })
        .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', staleBefore))
        .update({ last_used_at: at });
    },
    /** Keys that would work now (not revoked, not expired), over every account: the dashboard's figure. */
    async countActive(now: Date): Promise<number> {
      const row = (await db('api_keys')
        .whereNull('revoked_at')
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
        .count({ n: '*' })
        .first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },
    async deleteAllForUser(userId: string): Promise<number> {
      return db('api_keys').where({ user_id: userId }).delete();
    },
  };
}

export type ApiKeysRepo = ReturnType<typeof createApiKeysRepo>;
