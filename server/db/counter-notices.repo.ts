import type { Knex } from 'knex';
import { inBatches, toDate, toDateOrNull } from './knex.js';

/** Counter-notices to upheld copyright notices: filed by the uploader from their account, or recorded by staff. */
export type CounterNoticeStatus = 'received' | 'accepted' | 'rejected';
export type CounterNotice = {
  id: string;
  reportId: string;
  imageId: string;
  /** The uploader who filed it; null when staff recorded it (or the account was purged). */
  userId: string | null;
  name: string;
  contact: string;
  statement: string;
  signature: string;
  status: CounterNoticeStatus;
  note: string | null;
  createdAt: Date;
  resolvedAt: Date | null;
};

const fromRow = (r: Record<string, unknown>): CounterNotice => ({
  id: String(r.id),
  reportId: String(r.report_id),
  imageId: String(r.image_id),
  userId: (r.user_id as string | null) ?? null,
  name: String(r.name),
  contact: String(r.contact),
  statement: String(r.statement),
  signature: String(r.signature),
  status: r.status as CounterNoticeStatus,
  note: (r.note as string | null) ?? null,
  createdAt: toDate(r.created_at),
  resolvedAt: toDateOrNull(r.resolved_at),
});

export function createCounterNoticesRepo(db: Knex) {
  return {
    async insert(notice: Omit<CounterNotice, 'status' | 'note' | 'resolvedAt'>): Promise<CounterNotice> {
      const row = {
        id: notice.id,
        report_id: notice.reportId,
        image_id: notice.imageId,
        user_id: notice.userId,
        name: notice.name,
        contact: notice.contact,
        statement: notice.statement,
        signature: notice.signature,
        status: 'received',
        note: null,
        created_at: notice.createdAt,
        resolved_at: null,
      };
      await db('counter_notices').insert(row);
      return fromRow(row);
    },

    async findById(id: string): Promise<CounterNotice | null> {
      const row = (await db('counter_notices').where({ id }).first()) as Record<string, unknown> | undefined;
      return row ? fromRow(row) : null;
    },

    /** Whether a counter-notice about the image is waiting for a decision. */
    async hasPendingFor(imageId: string): Promise<boolean> {
      return Boolean(await db('counter_notices').where({ image_id: imageId, status: 'received' }).first('id'));
    },

    /** Records the decision, only while the counter-notice still waits for one; false when it was decided meanwhile. */
    async decide(id: string, decision: { status: 'accepted' | 'rejected'; note: string | null; at: Date }): Promise<boolean> {
      return (await db('counter_notices').where({ id, status: 'received' }).update({ status: decision.status, note: decision.note, resolved_at: decision.at })) > 0;
    },

    /** The counter-notices answering these reports, oldest first. */
    async listForReports(reportIds: readonly string[]): Promise<CounterNotice[]> {
      const notices: CounterNotice[] = [];
      for (const batch of inBatches(reportIds)) {
        const rows = (await db('counter_notices').whereIn('report_id', batch).orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }])) as Array<Record<string, unknown>>;
        notices.push(...rows.map(fromRow));
      }
      return notices;
    },

    async countPending(): Promise<number> {
      const row = (await db('counter_notices').where({ status: 'received' }).count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** For an account purge: counter-notices keep their decision, not who filed them. */
    async anonymiseFiler(userId: string): Promise<void> {
      await db('counter_notices').where({ user_id: userId }).update({ user_id: null, name: '[erased]', contact: '[erased]', statement: '[erased]', signature: '[erased]' });
    },
  };
}

export type CounterNoticesRepo = ReturnType<typeof createCounterNoticesRepo>;
