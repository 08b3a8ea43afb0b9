import type { Knex } from 'knex';
import type { Dialect } from './knex.js';
import { rawRows, toDate } from './knex.js';

/** One API call, as the request log keeps it: the route pattern, never the raw path (it could carry a secret). */
export type ApiRequestEntry = {
  keyId: string | null;
  userId: string | null;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  uploadBytes: number;
  ip: string | null;
  createdAt: Date;
};

export type ApiDailyCount = { day: string; requests: number; uploads: number; bytes: number; errors: number };

const fromRow = (r: Record<string, unknown>): ApiRequestEntry => ({
  keyId: r.key_id === null ? null : String(r.key_id),
  userId: r.user_id === null ? null : String(r.user_id),
  method: String(r.method),
  route: String(r.route),
  status: Number(r.status),
  durationMs: Number(r.duration_ms),
  uploadBytes: Number(r.upload_bytes),
  ip: r.ip === null ? null : String(r.ip),
  createdAt: toDate(r.created_at),
});

const ROUTE_MAX = 100;

export function createApiRequestsRepo(db: Knex, dialect: Dialect) {
  // The UTC day of created_at (PostgreSQL stores timestamptz, SQLite epoch milliseconds).
  const day = dialect === 'postgres' ? "to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')" : "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')";

  /** Requests, uploads (successful image POSTs), uploaded bytes and 4xx/5xx answers per UTC day, newest first. */
  const daily = async (where: Record<string, string>, since: Date): Promise<ApiDailyCount[]> => {
    const rows = rawRows<Record<string, unknown>>(
      await db('api_requests')
        .where(where)
        .andWhere('created_at', '>=', since)
        .select(
          db.raw(`${day} as day`),
          db.raw('count(*) as requests'),
          db.raw("sum(case when upload_bytes > 0 then 1 else 0 end) as uploads"),
          db.raw('coalesce(sum(upload_bytes), 0) as bytes'),
          db.raw('sum(case when status >= 400 then 1 else 0 end) as errors'),
        )
        .groupByRaw(day)
        .orderBy('day', 'desc'),
    );
    return rows.map((r) => ({ day: String(r.day), requests: Number(r.requests), uploads: Number(r.uploads ?? 0), bytes: Number(r.bytes ?? 0), errors: Number(r.errors ?? 0) }));
  };

  return {
    async insert(entry: ApiRequestEntry): Promise<void> {
      await db('api_requests').insert({
        key_id: entry.keyId,
        user_id: entry.userId,
        method: entry.method.slice(0, 8),
        route: entry.route.slice(0, ROUTE_MAX),
        status: entry.status,
        duration_ms: Math.max(0, Math.round(entry.durationMs)),
        upload_bytes: entry.uploadBytes,
        ip: entry.ip,
        created_at: entry.createdAt,
      });
    },
    /** The newest requests made with one of the user's keys. */
    async recentForKey(userId: string, keyId: string, limit: number): Promise<ApiRequestEntry[]> {
      const rows = await db('api_requests').where({ user_id: userId, key_id: keyId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
      return (rows as Array<Record<string, unknown>>).map(fromRow);
    },
    dailyForKey: (userId: string, keyId: string, since: Date) => daily({ user_id: userId, key_id: keyId }, since),
    dailyForUser: (userId: string, since: Date) => daily({ user_id: userId }, since),
    dailyForAll: (since: Date) => daily({}, since),
    /** Requests, uploads and uploaded bytes since `since`, per key of the user (keys without use are absent). */
    async totalsByKey(userId: string, since: Date): Promise<Map<string, { requests: number; uploads: number; bytes: number }>> {
      const rows = rawRows<Record<string, unknown>>(
        await db('api_requests')
          .where({ user_id: userId })
          .whereNotNull('key_id')
          .andWhere('created_at', '>=', since)
          .select('key_id', db.raw('count(*) as requests'), db.raw('sum(case when upload_bytes > 0 then 1 else 0 end) as uploads'), db.raw('coalesce(sum(upload_bytes), 0) as bytes'))
          .groupBy('key_id'),
      );
      return new Map(rows.map((r) => [String(r.key_id), { requests: Number(r.requests), uploads: Number(r.uploads ?? 0), bytes: Number(r.bytes ?? 0) }]));
    },
    /** Every row of an account, oldest first (the export). */
    async listForUser(userId: string): Promise<ApiRequestEntry[]> {
      const rows = await db('api_requests').where({ user_id: userId }).orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }]);
      return (rows as Array<Record<string, unknown>>).map(fromRow);
    },
    async deleteAllForUser(userId: string): Promise<number> {
      return db('api_requests').where({ user_id: userId }).delete();
    },
    /** Rows made with these keys whatever account they name (a refused attempt names none): the purge erases them too. */
    async deleteForKeys(keyIds: readonly string[]): Promise<number> {
      return keyIds.length ? db('api_requests').whereIn('key_id', keyIds).delete() : 0;
    },
    /** Deletes up to `limit` rows older than cutoff (one short statement); returns how many went. */
    async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
      return db('api_requests').whereIn('id', db('api_requests').select('id').where('created_at', '<', cutoff).limit(limit)).delete();
    },
  };
}

export type ApiRequestsRepo = ReturnType<typeof createApiRequestsRepo>;
