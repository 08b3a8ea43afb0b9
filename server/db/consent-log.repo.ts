import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { toDate } from './knex.js';

export type ConsentKind = 'terms' | 'age' | 'marketing';
export type ConsentEntry = { kind: ConsentKind; value: string; createdAt: Date; country?: string | null };

/** Append-only: every decision is a new row with its time, so the history can be shown and exported. */
export function createConsentLogRepo(db: Knex) {
  return {
    async insert(userId: string, entry: ConsentEntry): Promise<void> {
      await db('consent_log').insert({ id: randomUUID(), user_id: userId, kind: entry.kind, value: entry.value, created_at: entry.createdAt, country: entry.country ?? null });
    },
    async listForUser(userId: string): Promise<ConsentEntry[]> {
      const rows = (await db('consent_log').where({ user_id: userId }).orderBy('created_at', 'asc')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({ kind: r.kind as ConsentKind, value: String(r.value), createdAt: toDate(r.created_at), country: (r.country as string | null) ?? null }));
    },
  };
}

export type ConsentLogRepo = ReturnType<typeof createConsentLogRepo>;
