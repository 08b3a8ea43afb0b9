import type { Knex } from 'knex';

export type EmailTokenPurpose = 'verify_email' | 'change_email' | 'reset_password' | 'cancel_deletion';
export type EmailToken = { tokenHash: string; userId: string; purpose: EmailTokenPurpose; email: string | null; createdAt: Date; expiresAt: Date };

export function createEmailTokensRepo(db: Knex) {
  return {
    async insert(t: EmailToken): Promise<void> {
      await db('email_tokens').insert({
        token_hash: t.tokenHash,
        user_id: t.userId,
        purpose: t.purpose,
        email: t.email,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        used_at: null,
      });
    },
    /** Spends a token at most once, even when two requests race: only one update can flip used_at. */
    async consume(tokenHash: string, purpose: EmailTokenPurpose, now: Date): Promise<{ userId: string; email: string | null } | null> {
      const row = (await db('email_tokens').where({ token_hash: tokenHash, purpose }).first()) as Record<string, unknown> | undefined;
      if (!row) return null;
      const spent = await db('email_tokens').where({ token_hash: tokenHash, purpose }).whereNull('used_at').andWhere('expires_at', '>', now).update({ used_at: now });
      return spent ? { userId: String(row.user_id), email: row.email === null ? null : String(row.email) } : null;
    },
    /** Looks a token up without spending it (to show a form, or to check input before spending it). */
    async findUsable(tokenHash: string, purpose: EmailTokenPurpose, now: Date): Promise<{ userId: string } | null> {
      const row = (await db('email_tokens').where({ token_hash: tokenHash, purpose }).whereNull('used_at').andWhere('expires_at', '>', now).first()) as
        | Record<string, unknown>
        | undefined;
      return row ? { userId: String(row.user_id) } : null;
    },
    /** Removes tokens that expired, or were spent before `usedBefore`; returns how many. */
    async deleteExpired(now: Date, usedBefore: Date): Promise<number> {
      return db('email_tokens').where('expires_at', '<', now).orWhere('used_at', '<', usedBefore).delete();
    },
    async invalidateForUser(userId: string, purpose: EmailTokenPurpose, now: Date): Promise<void> {
      await db('email_tokens').where({ user_id: userId, purpose }).whereNull('used_at').update({ used_at: now });
    },
  };
}

export type EmailTokensRepo = ReturnType<typeof createEmailTokensRepo>;
