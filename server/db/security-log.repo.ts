import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { SecurityEventName } from '../services/security-events.js';
import { toDate } from './knex.js';

export type SecurityEvent = {
  /** Only the events services/security-events.ts lists can be recorded. */
  event: SecurityEventName;
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  detail?: Record<string, unknown>;
};

export type SecurityLogEntry = Required<Omit<SecurityEvent, 'detail' | 'event'>> & {
  event: string;
  id: string;
  createdAt: Date;
  detail: Record<string, unknown>;
};

const USER_AGENT_MAX = 512;

export function createSecurityLogRepo(db: Knex) {
  return {
    async insert(entry: SecurityEvent, at: Date): Promise<void> {
      await db('security_log').insert({
        id: randomUUID(),
        event: entry.event,
        created_at: at,
        user_id: entry.userId ?? null,
        ip: entry.ip ?? null,
        user_agent: entry.userAgent ? entry.userAgent.slice(0, USER_AGENT_MAX) : null,
        detail: JSON.stringify(entry.detail ?? {}),
      });
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
        detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
      }));
    },
  };
}

export type SecurityLogRepo = ReturnType<typeof createSecurityLogRepo>;
