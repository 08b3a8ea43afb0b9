import type { Knex } from 'knex';
import type { Db } from './knex.js';

/**
 * Runs fn while this process holds the PostgreSQL session advisory lock named by `name`, waiting for it if another
 * replica holds it. The lock sits on one pooled connection kept aside for the duration; fn uses the rest of the pool.
 * SQLite has one writer per file already, so there fn simply runs.
 */
export async function withAdvisoryLock<T>(db: Db, name: string, fn: () => Promise<T>): Promise<T> {
  if (db.dialect !== 'postgres') return fn();
  const conn = (await db.client.acquireConnection()) as Knex.Client;
  try {
    await db.raw('select pg_advisory_lock(hashtextextended(?, 0))', [name]).connection(conn);
    try {
      return await fn();
    } finally {
      await db.raw('select pg_advisory_unlock(hashtextextended(?, 0))', [name]).connection(conn);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** Like withAdvisoryLock, but gives up at once ({ ran: false }) when another session holds the lock. */
export async function tryWithAdvisoryLock<T>(db: Db, name: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  if (db.dialect !== 'postgres') return { ran: true, value: await fn() };
  const conn = (await db.client.acquireConnection()) as Knex.Client;
  try {
    const result = await db.raw<{ rows: Array<{ locked: boolean }> }>('select pg_try_advisory_lock(hashtextextended(?, 0)) as locked', [name]).connection(conn);
    if (!result.rows[0]?.locked) return { ran: false };
    try {
      return { ran: true, value: await fn() };
    } finally {
      await db.raw('select pg_advisory_unlock(hashtextextended(?, 0))', [name]).connection(conn);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}
