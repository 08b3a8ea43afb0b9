import type { Knex } from 'knex';
import { toDate, toDateOrNull } from './knex.js';

/** The register of requests about personal data, and how each was handled. */
export const PRIVACY_REQUEST_KINDS = ['access', 'rectification', 'erasure', 'restriction', 'objection', 'portability', 'other'] as const;
export const PRIVACY_REQUEST_STATUSES = ['open', 'in_progress', 'done', 'refused'] as const;
export type PrivacyRequestKind = (typeof PRIVACY_REQUEST_KINDS)[number];
export type PrivacyRequestStatus = (typeof PRIVACY_REQUEST_STATUSES)[number];
/** Statuses that still need work. */
const PENDING: PrivacyRequestStatus[] = ['open', 'in_progress'];

export type PrivacyRequest = {
  id: string;
  kind: PrivacyRequestKind;
  receivedAt: Date;
  dueAt: Date;
  status: PrivacyRequestStatus;
  userId: string | null;
  requester: string | null;
  note: string | null;
  updatedAt: Date;
};

const fromRow = (r: Record<string, unknown>): PrivacyRequest => ({
  id: String(r.id),
  kind: r.kind as PrivacyRequestKind,
  receivedAt: toDate(r.received_at),
  dueAt: toDate(r.due_at),
  status: r.status as PrivacyRequestStatus,
  userId: (r.user_id as string | null) ?? null,
  requester: (r.requester as string | null) ?? null,
  note: (r.note as string | null) ?? null,
  updatedAt: toDateOrNull(r.updated_at) ?? toDate(r.received_at),
});

export function createPrivacyRequestsRepo(db: Knex) {
  return {
    async insert(request: PrivacyRequest): Promise<void> {
      await db('privacy_requests').insert({
        id: request.id,
        kind: request.kind,
        received_at: request.receivedAt,
        due_at: request.dueAt,
        status: request.status,
        user_id: request.userId,
        requester: request.requester,
        note: request.note,
        updated_at: request.updatedAt,
      });
    },

    async findById(id: string): Promise<PrivacyRequest | null> {
      const row = (await db('privacy_requests').where({ id }).first()) as Record<string, unknown> | undefined;
      return row ? fromRow(row) : null;
    },

    /** Sets the status (and the note, when given); false when there is no such request. */
    async update(id: string, change: { status: PrivacyRequestStatus; note?: string | null; at: Date }): Promise<boolean> {
      const values: Record<string, unknown> = { status: change.status, updated_at: change.at };
      if (change.note !== undefined) values.note = change.note;
      return (await db('privacy_requests').where({ id }).update(values)) > 0;
    },

    /** Open and in-progress requests, the most urgent first. */
    async listPending(): Promise<PrivacyRequest[]> {
      return ((await db('privacy_requests').whereIn('status', PENDING).orderBy([{ column: 'due_at', order: 'asc' }, { column: 'id', order: 'asc' }])) as Array<Record<string, unknown>>).map(fromRow);
    },

    /** The account's requests, newest first. */
    async listForUser(userId: string, limit: number): Promise<PrivacyRequest[]> {
      return ((await db('privacy_requests').where({ user_id: userId }).orderBy([{ column: 'received_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit)) as Array<Record<string, unknown>>).map(fromRow);
    },

    /** How many requests still need work, and how many of those are past their due date at `now`. */
    async countPending(now: Date): Promise<{ pending: number; overdue: number }> {
      const count = async (q: Knex.QueryBuilder) => Number(((await q.count({ n: '*' }).first()) as { n: number | string } | undefined)?.n ?? 0);
      return { pending: await count(db('privacy_requests').whereIn('status', PENDING)), overdue: await count(db('privacy_requests').whereIn('status', PENDING).andWhere('due_at', '<', now)) };
    },

    /**
     * For an account purge: the record of what was asked and done stays (kind, dates, status); who asked, and notes
     * that may name them, go. Requests recorded by address only are matched by that address.
     */
    async anonymise(userId: string, addresses: readonly string[] = []): Promise<void> {
      const q = db('privacy_requests').where({ user_id: userId });
      if (addresses.length) q.orWhereRaw(`lower(requester) in (${addresses.map(() => '?').join(', ')})`, addresses.map((a) => a.toLowerCase()));
      await q.update({ user_id: null, requester: null, note: null });
    },
  };
}

export type PrivacyRequestsRepo = ReturnType<typeof createPrivacyRequestsRepo>;
