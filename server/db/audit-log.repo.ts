import type { Knex } from 'knex';
import { toDate } from './knex.js';

/**
 * The staff audit log: who did what to which target, why and when. Append-only (database triggers refuse UPDATE and
 * DELETE), so this repository only inserts and reads. The actor's address is not here but in the security log.
 */
export type AuditLogRecord = {
  id: string;
  createdAt: Date;
  actorId: string | null;
  actorName: string;
  action: string;
  targetType: string;
  targetId: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
};

/** Where a page starts: the (created_at, id) of the last entry of the page before (pages run newest first). */
export type AuditPosition = { createdAt: Date; id: string };

export type AuditLogFilter = {
  action?: string;
  /** The actor's username as it was when they acted. */
  actorName?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
};

const fromRow = (r: Record<string, unknown>): AuditLogRecord => ({
  id: String(r.id),
  createdAt: toDate(r.created_at),
  actorId: (r.actor_id as string | null) ?? null,
  actorName: String(r.actor_name),
  action: String(r.action),
  targetType: String(r.target_type),
  targetId: (r.target_id as string | null) ?? null,
  reason: (r.reason as string | null) ?? null,
  detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
});

export function createAuditLogRepo(db: Knex) {
  return {
    async insert(entry: AuditLogRecord): Promise<void> {
      await db('audit_log').insert({
        id: entry.id,
        created_at: entry.createdAt,
        actor_id: entry.actorId,
        actor_name: entry.actorName,
        action: entry.action,
        target_type: entry.targetType,
        target_id: entry.targetId,
        reason: entry.reason,
        detail: JSON.stringify(entry.detail),
      });
    },

    /**
     * One keyset page, newest first, ordered by (created_at, id): entries that share a timestamp (one bulk decision)
     * are never skipped nor repeated at a page boundary.
     */
    async list(filter: AuditLogFilter, page: { limit: number; before?: AuditPosition | null }): Promise<AuditLogRecord[]> {
      const q = db('audit_log');
      if (filter.action) q.where({ action: filter.action });
      if (filter.actorName) q.where({ actor_name: filter.actorName });
      if (filter.actorId) q.where({ actor_id: filter.actorId });
      if (filter.targetType) q.where({ target_type: filter.targetType });
      if (filter.targetId) q.where({ target_id: filter.targetId });
      const before = page.before;
      if (before) q.andWhere((k) => k.where('created_at', '<', before.createdAt).orWhere((same) => same.where('created_at', '=', before.createdAt).andWhere('id', '<', before.id)));
      const rows = (await q
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(page.limit)) as Array<Record<string, unknown>>;
      return rows.map(fromRow);
    },
  };
}

export type AuditLogRepo = ReturnType<typeof createAuditLogRepo>;
