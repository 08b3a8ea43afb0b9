import { randomUUID } from 'node:crypto';
import type { AuditLogFilter, AuditLogRecord, AuditPosition } from '../db/audit-log.repo.js';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';

/**
 * Every staff action goes here: who, what, which target, why, when. The table is append-only (database triggers
 * refuse UPDATE and DELETE). The actor's IP address goes to the security log as admin.action with the audit id,
 * so it is rotated after IP_LOG_RETENTION_DAYS like every other address, while the record of the action stays.
 */
export type StaffActor = { user: Pick<UserRecord, 'id' | 'username'>; ip: string | undefined; userAgent: string | undefined };
export type AuditEntry = AuditLogRecord & {
  /** From the security log while it still has the row (IP_LOG_RETENTION_DAYS). */
  ip: string | null;
};

/**
 * Writes the audit entry and its security-log row. Pass the repositories of the decision's transaction, so the
 * decision and its record commit or roll back together.
 */
export async function recordStaffAction(
  tx: Pick<Repos, 'auditLog' | 'securityLog'>,
  actor: StaffActor,
  entry: { action: string; targetType: string; targetId?: string | null; reason?: string | null; detail?: Record<string, unknown> },
  now: Date,
): Promise<string> {
  const id = randomUUID();
  await tx.auditLog.insert({
    id,
    createdAt: now,
    actorId: actor.user.id,
    actorName: actor.user.username,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId ?? null,
    reason: entry.reason?.trim() ? entry.reason.trim().slice(0, 2000) : null,
    detail: entry.detail ?? {},
  });
  await tx.securityLog.insert({ event: 'admin.action', userId: actor.user.id, ip: actor.ip, userAgent: actor.userAgent, detail: { auditId: id, action: entry.action } }, now);
  return id;
}

export type AuditFilter = { action?: string; actor?: string; targetType?: string; targetId?: string };

/** One page of the log, newest first; pass the last entry of a page as `before` for the next one. */
export async function listAudit(repos: Pick<Repos, 'auditLog' | 'securityLog'>, filter: AuditFilter, page: { limit: number; before?: AuditPosition | null }): Promise<AuditEntry[]> {
  const query: AuditLogFilter = { action: filter.action || undefined, actorName: filter.actor || undefined, targetType: filter.targetType || undefined, targetId: filter.targetId || undefined };
  const entries = await repos.auditLog.list(query, page);
  if (!entries.length) return [];
  // The security-log rows were written with the same timestamp as their entries: the page's time span bounds them.
  const times = entries.map((e) => e.createdAt.getTime());
  const ips = await repos.securityLog.staffActionAddresses(
    entries.flatMap((e) => (e.actorId ? [e.actorId] : [])),
    new Date(Math.min(...times)),
    new Date(Math.max(...times)),
  );
  return entries.map((e) => ({ ...e, ip: ips.get(e.id) ?? null }));
}

/** The whole log (or the filtered part) as CSV lines, header first, read `batch` entries at a time. */
export async function* auditCsvLines(repos: Pick<Repos, 'auditLog' | 'securityLog'>, filter: AuditFilter, batch = 500): AsyncGenerator<string> {
  yield AUDIT_CSV_HEADER.join(',');
  let before: AuditPosition | null = null;
  for (;;) {
    const entries = await listAudit(repos, filter, { limit: batch, before });
    for (const entry of entries) yield auditCsvRow(entry);
    if (entries.length < batch) return;
    const last = entries[entries.length - 1]!;
    before = { createdAt: last.createdAt, id: last.id };
  }
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
