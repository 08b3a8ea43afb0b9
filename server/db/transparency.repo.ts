import type { Knex } from 'knex';
import { inBatches, toDate, toDateOrNull } from './knex.js';

/**
 * The reads behind /transparency: counts and bare timestamps over a period [from, to), never who. Each function is
 * named in the page's data-query attributes and in the README, so every figure can be traced to its query here.
 */
export type Period = { from: Date; to: Date };

/** A decided report: what it was about (kind only), why, how it was decided and when. */
export type ResolvedReportRow = { targetKind: 'image' | 'album'; targetId: string; reason: string; resolution: string | null; createdAt: Date; resolvedAt: Date };
/** A staff decision from the audit log (the target id is used to match reports, never shown). */
export type DecisionRow = { action: string; targetId: string | null; createdAt: Date; detail: Record<string, unknown> };
export type PrivacyRequestRow = { kind: string; status: string; receivedAt: Date; dueAt: Date; updatedAt: Date };

const count = (row: unknown, key = 'n') => Number((row as Record<string, number | string | null> | undefined)?.[key] ?? 0);
const inPeriod = (q: Knex.QueryBuilder, column: string, p: Period) => q.andWhere(column, '>=', p.from).andWhere(column, '<', p.to);
const dayKey = (d: Date) => d.toISOString().slice(0, 10);

export function createTransparencyRepo(db: Knex) {
  return {
    /** reports.byReason: reports received in the period, per reason. */
    async reportsByReason(p: Period): Promise<Map<string, number>> {
      const rows = (await inPeriod(db('reports'), 'created_at', p).groupBy('reason').select('reason').count({ n: '*' })) as Array<{ reason: string; n: number | string }>;
      return new Map(rows.map((r) => [r.reason, Number(r.n)]));
    },

    /** reports.bySource: reports received in the period, by who sent them (null: made before the source was kept). */
    async reportSources(p: Period): Promise<{ visitor: number; account: number; unknown: number }> {
      const rows = (await inPeriod(db('reports'), 'created_at', p).groupBy('source').select('source').count({ n: '*' })) as Array<{ source: string | null; n: number | string }>;
      const of = (source: string | null) => Number(rows.find((r) => r.source === source)?.n ?? 0);
      return { visitor: of('visitor'), account: of('account'), unknown: of(null) };
    },

    /** decisions.time and decisions.byGround: reports decided in the period (no reporter, no details). */
    async resolvedReports(p: Period): Promise<ResolvedReportRow[]> {
      const rows = (await inPeriod(db('reports').whereNotNull('resolved_at'), 'resolved_at', p).select('image_id', 'album_id', 'reason', 'resolution', 'created_at', 'resolved_at')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({
        targetKind: r.image_id ? 'image' : 'album',
        targetId: String(r.image_id ?? r.album_id),
        reason: String(r.reason),
        resolution: (r.resolution as string | null) ?? null,
        createdAt: toDate(r.created_at),
        resolvedAt: toDateOrNull(r.resolved_at) ?? toDate(r.created_at),
      }));
    },

    /** decisions.byKind, suspensions, bans: audit log entries of these actions in the period (no actor, no reason). */
    async staffActions(actions: readonly string[], p: Period): Promise<DecisionRow[]> {
      const rows = (await inPeriod(db('audit_log').whereIn('action', [...actions]), 'created_at', p).select('action', 'target_id', 'created_at', 'detail')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({ action: String(r.action), targetId: (r.target_id as string | null) ?? null, createdAt: toDate(r.created_at), detail: JSON.parse(String(r.detail)) as Record<string, unknown> }));
    },

    /** copyright.reinstatements: which of these images had a copyright notice reversed (put back after a takedown). */
    async imagesWithReversedCopyright(imageIds: readonly string[]): Promise<Set<string>> {
      const found = new Set<string>();
      for (const batch of inBatches([...new Set(imageIds)])) {
        for (const id of (await db('reports').where({ reason: 'copyright', status: 'reversed' }).whereIn('image_id', batch).distinct('image_id').pluck('image_id')) as string[]) found.add(id);
      }
      return found;
    },

    /** copyright.counterNotices: counter-notices received in the period, and those accepted in it. */
    async counterNotices(p: Period): Promise<{ received: number; accepted: number }> {
      const received = await inPeriod(db('counter_notices'), 'created_at', p).count({ n: '*' }).first();
      const accepted = await inPeriod(db('counter_notices').where({ status: 'accepted' }), 'resolved_at', p).count({ n: '*' }).first();
      return { received: count(received), accepted: count(accepted) };
    },

    /** privacy.byKind and privacy.onTime: requests received in the period (kind, status and dates only). */
    async privacyRequests(p: Period): Promise<PrivacyRequestRow[]> {
      const rows = (await inPeriod(db('privacy_requests'), 'received_at', p).select('kind', 'status', 'received_at', 'due_at', 'updated_at')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({ kind: String(r.kind), status: String(r.status), receivedAt: toDate(r.received_at), dueAt: toDate(r.due_at), updatedAt: toDateOrNull(r.updated_at) ?? toDate(r.received_at) }));
    },

    /**
     * uploads.refused: a security-log event counted over the period. Days the daily job has counted come from
     * daily_stats (which outlives the log's rotation); the days after the last counted one from the log itself.
     */
    async eventCount(event: string, p: Period): Promise<number> {
      const last = (await db('daily_stats').where({ metric: '_aggregated' }).max({ day: 'day' }).first()) as { day: string | null } | undefined;
      const lastDay = last?.day ?? null;
      const fromDay = dayKey(p.from);
      const toDay = dayKey(new Date(p.to.getTime() - 1)); // periods start and end on UTC midnights
      let total = 0;
      if (lastDay && lastDay >= fromDay) {
        const upTo = lastDay < toDay ? lastDay : toDay;
        total += count(await db('daily_stats').where({ metric: event }).andWhere('day', '>=', fromDay).andWhere('day', '<=', upTo).sum({ n: 'count' }).first());
      }
      const liveFrom = lastDay ? new Date(Math.max(p.from.getTime(), Date.parse(`${lastDay}T00:00:00Z`) + 86_400_000)) : p.from;
      if (liveFrom < p.to) total += count(await inPeriod(db('security_log').where({ event }), 'created_at', { from: liveFrom, to: p.to }).count({ n: '*' }).first());
      return total;
    },

    /** When the first report, staff decision or privacy request was recorded (the oldest period the page offers). */
    async firstRecordAt(): Promise<Date | null> {
      const firsts = await Promise.all([
        db('reports').min({ at: 'created_at' }).first(),
        db('audit_log').min({ at: 'created_at' }).first(),
        db('privacy_requests').min({ at: 'received_at' }).first(),
      ]);
      const dates = firsts.map((r) => toDateOrNull((r as { at: unknown } | undefined)?.at ?? null)).filter((d): d is Date => d !== null);
      return dates.length ? new Date(Math.min(...dates.map((d) => d.getTime()))) : null;
    },
  };
}

export type TransparencyRepo = ReturnType<typeof createTransparencyRepo>;
