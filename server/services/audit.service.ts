import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createSecurityLogRepo } from '../db/security-log.repo.js';
import { toDate } from '../db/knex.js';
import type { UserRecord } from '../db/users.repo.js';

/**
 * Every staff action goes here: who, what, which target, why, when. The table is append-only (database triggers
 * refuse UPDATE and DELETE). The actor's IP address goes to the security log as admin.action with the audit id,
 * so it is rotated after IP_LOG_RETENTION_DAYS like every other address, while the record of the action stays.
 */
export type StaffActor = { user: Pick<UserRecord, 'id' | 'username'>; ip: string | undefined; userAgent: string | undefined };
export type AuditEntry = {
  id: string;
  createdAt: Date;
  actorId: string | null;
  actorName: string;
  action: string;
  targetType: string;
  targetId: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
  /** From the security log while it still has the row (IP_LOG_RETENTION_DAYS). */
  ip: string | null;
};

export async function recordStaffAction(
  db: Knex,
  actor: StaffActor,
  entry: { action: string; targetType: string; targetId?: string | null; reason?: string | null; detail?: Record<string, unknown> },
  now: Date,
): Promise<string> {
  const id = randomUUID();
  await db('audit_log').insert({
    id,
    created_at: now,
    actor_id: actor.user.id,
    actor_name: actor.user.username,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId ?? null,
    reason: entry.reason?.trim() ? entry.reason.trim().slice(0, 2000) : null,
    detail: JSON.stringify(entry.detail ?? {}),
  });
  await createSecurityLogRepo(db).insert({ event: 'admin.action', userId: actor.user.id, ip: actor.ip, userAgent: actor.userAgent, detail: { auditId: id, action: entry.action } }, now);
  return id;
}

export type AuditFilter = { action?: string; actor?: string; limit: number; before?: Date };

export async function listAudit(db: Knex, filter: AuditFilter): Promise<AuditEntry[]> {
  const q = db('audit_log').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(filter.limit);
  if (filter.action) q.where({ action: filter.action });
  if (filter.actor) q.where({ actor_name: filter.actor });
  if (filter.before) q.where('created_at', '<', filter.before);
  const rows = (await q) as Array<Record<string, unknown>>;
  const ips = new Map<string, string>();
  const logRows = (await db('security_log').where({ event: 'admin.action' }).whereIn('user_id', [...new Set(rows.map((r) => r.actor_id as string))]).select('ip', 'detail')) as Array<{ ip: string | null; detail: string }>;
  for (const row of logRows) {
    const auditId = (JSON.parse(row.detail) as { auditId?: string }).auditId;
    if (auditId && row.ip) ips.set(auditId, row.ip);
  }
  return rows.map((r) => ({
    id: String(r.id),
    createdAt: toDate(r.created_at),
    actorId: (r.actor_id as string | null) ?? null,
    actorName: String(r.actor_name),
    action: String(r.action),
    targetType: String(r.target_type),
    targetId: (r.target_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
    ip: ips.get(String(r.id)) ?? null,
  }));
}

/** One CSV field: quoted, and a leading = + - @ defused so a spreadsheet never runs it as a formula. */
export function csvField(value: unknown): string {
  let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

export const AUDIT_CSV_HEADER = ['time', 'actor', 'action', 'target_type', 'target_id', 'reason', 'ip', 'detail'];
export const auditCsvRow = (e: AuditEntry): string =>
  [e.createdAt, e.actorName, e.action, e.targetType, e.targetId, e.reason, e.ip, e.detail].map(csvField).join(',');
