import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { SecurityEventName } from './security-events.js';
import { inBatches, insertInBatches, toDate } from './knex.js';

export type SecurityEvent = {
  /** Only the events services/security-events.ts lists can be recorded. */
  event: SecurityEventName;
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** The image the event is about (upload, claim, delete, restore, report): the purge finds rows by it. */
  imageId?: string | null;
  detail?: Record<string, unknown>;
};

export type SecurityLogEntry = Required<Omit<SecurityEvent, 'detail' | 'event'>> & {
  event: string;
  id: string;
  createdAt: Date;
  detail: Record<string, unknown>;
};

const USER_AGENT_MAX = 512;
const toRow = (entry: SecurityEvent, at: Date) => ({
  id: randomUUID(),
  event: entry.event,
  created_at: at,
  user_id: entry.userId ?? null,
  ip: entry.ip ?? null,
  user_agent: entry.userAgent ? entry.userAgent.slice(0, USER_AGENT_MAX) : null,
  image_id: entry.imageId ?? null,
  detail: JSON.stringify(entry.detail ?? {}),
});

export function createSecurityLogRepo(db: Knex) {
  return {
    async insert(entry: SecurityEvent, at: Date): Promise<void> {
      await db('security_log').insert(toRow(entry, at));
    },

    /** Several events at once (e.g. one per image an expiry run deleted), in as few statements as the cap allows. */
    async insertMany(entries: readonly SecurityEvent[], at: Date): Promise<void> {
      await insertInBatches(db, 'security_log', entries.map((entry) => toRow(entry, at)));
    },

    /** Erases every row that names the user (the purge). */
    async deleteForUser(userId: string): Promise<number> {
      return db('security_log').where({ user_id: userId }).delete();
    },

    /** Erases every row about these images, whoever they name (the purge: a guest upload the person claimed). */
    async deleteAboutImages(imageIds: readonly string[]): Promise<number> {
      let deleted = 0;
      for (const batch of inBatches(imageIds)) deleted += await db('security_log').whereIn('image_id', batch).delete();
      return deleted;
    },

    /** Deletes up to `limit` of the oldest rows written before the cut-off, as one short statement; returns how many. */
    async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
      const ids = (await db('security_log').where('created_at', '<', cutoff).orderBy('created_at').limit(limit).pluck('id')) as string[];
      return ids.length ? db('security_log').whereIn('id', ids).delete() : 0;
    },

    /** When the oldest row was written, or null when the log is empty. */
    async oldestAt(): Promise<Date | null> {
      const row = (await db('security_log').min({ at: 'created_at' }).first()) as { at: Date | number | string | null } | undefined;
      return row?.at === null || row?.at === undefined ? null : toDate(row.at);
    },

    /** How many rows of each event were written in [from, to). */
    async countByEvent(from: Date, to: Date): Promise<Array<{ event: string; count: number }>> {
      const rows = (await db('security_log').where('created_at', '>=', from).andWhere('created_at', '<', to).groupBy('event').select('event').count({ n: '*' })) as Array<{
        event: string;
        n: number | string;
      }>;
      return rows.map((r) => ({ event: r.event, count: Number(r.n) }));
    },

    /** The address an image was uploaded from, while the log still has it (null once rotated). */
    async uploadAddressOf(imageId: string): Promise<string | null> {
      const row = (await db('security_log').where({ event: 'image.upload', image_id: imageId }).whereNotNull('ip').first('ip')) as { ip: string } | undefined;
      return row?.ip ?? null;
    },

    /** The addresses of staff actions (admin.action rows of these actors written in [from, to]), by audit id. */
    async staffActionAddresses(actorIds: readonly string[], from: Date, to: Date): Promise<Map<string, string>> {
      const ips = new Map<string, string>();
      const actors = [...new Set(actorIds)];
      for (const batch of inBatches(actors)) {
        const rows = (await db('security_log')
          .where({ event: 'admin.action' })
          .whereIn('user_id', batch)
          .whereNotNull('ip')
          .andWhere('created_at', '>=', from)
          .andWhere('created_at', '<=', to)
          .select('ip', 'detail')) as Array<{ ip: string; detail: string }>;
        for (const row of rows) {
          const auditId = (JSON.parse(row.detail) as { auditId?: string }).auditId;
          if (auditId) ips.set(auditId, row.ip);
        }
      }
      return ips;
    },

    async list(): Promise<SecurityLogEntry[]> {
      const rows = (await db('security_log').orderBy('created_at', 'asc')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({
        id: String(r.id),
        event: String(r.event),
        createdAt: toDate(r.created_at),
        userId: (r.user_id as string | null) ?? null,
        ip: (r.ip as string | null) ?? null,
        userAgent: (r.user_agent as string | null) ?? null,
        imageId: (r.image_id as string | null) ?? null,
        detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
      }));
    },
  };
}

export type SecurityLogRepo = ReturnType<typeof createSecurityLogRepo>;
