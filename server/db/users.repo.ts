import type { Knex } from 'knex';
import { containsPattern, toDate, toDateOrNull } from './knex.js';
import { sessionRowsChanged } from './session-writes.js';

/** admin: everything; moderator: moderation only; user: no staff pages at all. */
export type Role = 'user' | 'moderator' | 'admin';

export type UserRecord = {
  id: string;
  username: string;
  email: string;
  emailVerifiedAt: Date | null;
  passwordHash: string;
  quotaBytes: number | null;
  usedBytes: number;
  marketingConsent: boolean;
  role: Role;
  createdAt: Date;
  /** Set while the account waits for its purge; it can be restored until then. */
  deletionRequestedAt: Date | null;
  /** Set while staff have suspended the account: it cannot sign in or upload. */
  suspendedAt: Date | null;
  suspendedReason: string | null;
  /** Signed into every device cookie; raised when they must all stop counting (services/known-devices.service.ts). */
  deviceEpoch: number;
};

type UserRow = Record<string, unknown>;

/** A users row as the app sees it (also read by the sessions repository's join). */
export const userFromRow = (r: UserRow): UserRecord => ({
  id: String(r.id),
  username: String(r.username),
  email: String(r.email),
  emailVerifiedAt: toDateOrNull(r.email_verified_at),
  passwordHash: String(r.password_hash),
  quotaBytes: r.quota_bytes === null || r.quota_bytes === undefined ? null : Number(r.quota_bytes),
  usedBytes: Number(r.used_bytes),
  marketingConsent: Boolean(r.marketing_consent),
  role: r.role === 'admin' || r.role === 'moderator' ? r.role : 'user',
  createdAt: toDate(r.created_at),
  deletionRequestedAt: toDateOrNull(r.deletion_requested_at),
  suspendedAt: toDateOrNull(r.suspended_at),
  suspendedReason: (r.suspended_reason as string | null) ?? null,
  deviceEpoch: Number(r.device_epoch ?? 0),
});

/** Case-insensitive identity: what uniqueness and lookups use. */
export const usernameKey = (username: string): string => username.toLowerCase();
export const emailKey = (email: string): string => email.trim().toLowerCase();

export function createUsersRepo(db: Knex) {
  /**
   * Every write but the byte counters (reserve/add/release, which decide nothing about access) tells the session
   * lookup caches (see session-writes.ts): a suspension, deletion or role change must end cached sessions at once.
   */
  const changed = <T>(result: T): T => {
    sessionRowsChanged(db);
    return result;
  };
  const one = async (query: Knex.QueryBuilder): Promise<UserRecord | null> => {
    const row = (await query.first()) as UserRow | undefined;
    return row ? userFromRow(row) : null;
  };
  return {
    async insert(user: Omit<UserRecord, 'usedBytes' | 'quotaBytes' | 'emailVerifiedAt' | 'role' | 'deletionRequestedAt' | 'suspendedAt' | 'suspendedReason' | 'deviceEpoch'> & { role?: UserRecord['role'] }): Promise<void> {
      await db('users').insert({
        id: user.id,
        username: user.username,
        username_key: usernameKey(user.username),
        email: user.email,
        email_key: emailKey(user.email),
        email_verified_at: null,
        password_hash: user.passwordHash,
        marketing_consent: user.marketingConsent,
        role: user.role ?? 'user',
        created_at: user.createdAt,
      });
      changed(undefined);
    },
    async hasAdmin(): Promise<boolean> {
      return Boolean(await db('users').where({ role: 'admin' }).first('id'));
    },
    /**
     * Moves the account from one role to another. An admin is demoted only while another admin remains: the admin
     * rows are locked first (PostgreSQL; SQLite runs one writer at a time), so two admins demoting each other at once
     * cannot leave the site without one. False when the account no longer has role `from`, or it is the last admin.
     * verifiedAt (the CLI) also marks the address confirmed.
     */
    async changeRole(id: string, from: Role, to: Role, verifiedAt?: Date): Promise<boolean> {
      return db.transaction(async (trx) => {
        if (from === 'admin' && to !== 'admin') {
          const admins = trx('users').where({ role: 'admin' }).whereNull('deletion_requested_at').whereNull('suspended_at').orderBy('id');
          if (trx.client.config.client === 'pg') admins.forUpdate();
          if (!((await admins.pluck('id')) as string[]).some((other) => other !== id)) return false;
        }
        const changes = { role: to, ...(verifiedAt ? { email_verified_at: trx.raw('coalesce(email_verified_at, ?)', [verifiedAt]) } : {}) };
        const updated = (await trx('users').where({ id, role: from }).update(changes)) > 0;
        sessionRowsChanged(trx);
        return updated;
      });
    },
    findById: (id: string) => one(db('users').where({ id })),
    /** Usernames of these accounts, in one query (staff lists name the owners of what they show). */
    async usernamesOf(ids: readonly string[]): Promise<Map<string, string>> {
      if (!ids.length) return new Map();
      const rows = (await db('users').whereIn('id', [...new Set(ids)]).select('id', 'username')) as Array<{ id: string; username: string }>;
      return new Map(rows.map((r) => [r.id, r.username]));
    },
    findByUsername: (username: string) => one(db('users').where({ username_key: usernameKey(username) })),
    findByEmail: (email: string) => one(db('users').where({ email_key: emailKey(email) })),
    /** Login accepts either the username or the email address. */
    findByLogin: (login: string) =>
      one(login.includes('@') ? db('users').where({ email_key: emailKey(login) }) : db('users').where({ username_key: usernameKey(login) })),

    async updateUsername(id: string, username: string): Promise<void> {
      changed(await db('users').where({ id }).update({ username, username_key: usernameKey(username) }));
    },
    /** A new address starts unverified. */
    async updateEmail(id: string, email: string): Promise<void> {
      changed(await db('users').where({ id }).update({ email, email_key: emailKey(email), email_verified_at: null }));
    },
    /** Switches to a new address its owner just confirmed (fails on a unique violation if it was taken meanwhile). */
    async replaceEmailVerified(id: string, email: string, at: Date): Promise<void> {
      changed(await db('users').where({ id }).update({ email, email_key: emailKey(email), email_verified_at: at }));
    },
    /** Marks the address verified only if it is still the account's address. */
    async markEmailVerified(id: string, email: string, at: Date): Promise<boolean> {
      return changed(await db('users').where({ id, email_key: emailKey(email) }).update({ email_verified_at: at })) > 0;
    },
    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      changed(await db('users').where({ id }).update({ password_hash: passwordHash }));
    },
    /** Every device cookie issued to the account so far stops counting (a password change or reset, signing out everywhere). */
    async bumpDeviceEpoch(id: string): Promise<void> {
      changed(await db('users').where({ id }).increment('device_epoch', 1));
    },
    async setMarketingConsent(id: string, value: boolean): Promise<void> {
      changed(await db('users').where({ id }).update({ marketing_consent: value }));
    },

    /**
     * Adds bytes to the account's usage only if the quota still allows it, in one statement: concurrent uploads
     * are serialised by the row update, so together they can never overshoot.
     */
    async reserveBytes(id: string, bytes: number, defaultQuota: number): Promise<boolean> {
      const updated = await db('users')
        .where({ id })
        .andWhereRaw('used_bytes + ? <= coalesce(quota_bytes, ?)', [bytes, defaultQuota])
        .increment('used_bytes', bytes);
      return updated > 0;
    },
    /** Adds bytes whatever the quota says (a staff restore). */
    async addBytes(id: string, bytes: number): Promise<void> {
      await db('users').where({ id }).increment('used_bytes', bytes);
    },
    /** Starts the grace period; false if it had already started (a double submit). */
    async markDeletionRequested(id: string, at: Date): Promise<boolean> {
      return changed(await db('users').where({ id }).whereNull('deletion_requested_at').update({ deletion_requested_at: at })) > 0;
    },
    /** Ends the grace period; false if there was none (already cancelled, or purged). */
    async clearDeletionRequest(id: string): Promise<boolean> {
      return changed(await db('users').where({ id }).whereNotNull('deletion_requested_at').update({ deletion_requested_at: null })) > 0;
    },
    /** Accounts whose grace period ended at or before the cut-off. */
    async listDueForPurge(cutoff: Date, limit: number): Promise<string[]> {
      return (await db('users').whereNotNull('deletion_requested_at').andWhere('deletion_requested_at', '<=', cutoff).orderBy('deletion_requested_at').limit(limit).pluck('id')) as string[];
    },
    /** Suspends (with the statement of reasons the holder is shown) or, with null, lifts a suspension. */
    async setSuspension(id: string, suspension: { at: Date; reason: string } | null): Promise<boolean> {
      const values = suspension ? { suspended_at: suspension.at, suspended_reason: suspension.reason } : { suspended_at: null, suspended_reason: null };
      return changed(await db('users').where({ id }).update(values)) > 0;
    },
    async deleteById(id: string): Promise<boolean> {
      return changed(await db('users').where({ id }).delete()) > 0;
    },
    /** Deletes the account only while it still waits for its purge since at or before the cut-off (a restore wins). */
    async deleteIfPendingSince(id: string, cutoff: Date): Promise<boolean> {
      return changed(await db('users').where({ id }).whereNotNull('deletion_requested_at').andWhere('deletion_requested_at', '<=', cutoff).delete()) > 0;
    },
    async releaseBytes(id: string, bytes: number): Promise<void> {
      await db('users').where({ id }).update({ used_bytes: db.raw('case when used_bytes > ? then used_bytes - ? else 0 end', [bytes, bytes]) });
    },
    /**
     * Staff search: accounts whose username or email contains `text` (case-insensitive, wildcards literal), newest
     * first, each with how many images it has. Asks for one more than `limit` so the caller knows if a next page exists.
     */
    async searchForStaff(text: string, page: { limit: number; offset: number }): Promise<Array<UserRecord & { uploads: number }>> {
      const q = db('users').select('users.*', db('images').count('*').whereRaw('images.owner_id = users.id').as('uploads'));
      if (text) {
        const pattern = containsPattern(text);
        q.whereRaw("(username_key like ? escape '\\' or email_key like ? escape '\\')", [pattern, pattern]);
      }
      const rows = (await q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(page.limit + 1).offset(page.offset)) as UserRow[];
      return rows.map((r) => ({ ...userFromRow(r), uploads: Number(r.uploads ?? 0) }));
    },
    /** Sets the account's storage quota; null means the configured default. */
    async setQuota(id: string, quotaBytes: number | null): Promise<boolean> {
      return changed(await db('users').where({ id }).update({ quota_bytes: quotaBytes })) > 0;
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
