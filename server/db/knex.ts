import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexLog } from './unavailable.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Knex & { dialect: Dialect };

// int8 (COUNT, SUM, bigint columns) arrives as a string by default; our values (byte sizes, counts) fit in 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

const SQLITE_BUSY_TIMEOUT_MS = 5000;
const PG_CONNECT_TIMEOUT_MS = 5000;

/**
 * SQLite transactions start with BEGIN IMMEDIATE: it takes the write lock at
 * once, waiting up to busy_timeout for it. With the default (deferred) BEGIN, a transaction that reads and then
 * writes fails at once with SQLITE_BUSY_SNAPSHOT when another process (a cluster worker, a CLI) committed in
 * between, and no timeout helps, since its snapshot is already stale. One process (pool of one) never sees this.
 */
type TransactionClass = new (...args: unknown[]) => { query(conn: unknown, sql: string): Promise<unknown> };
const require = createRequire(import.meta.url);
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as TransactionClass;
class ImmediateTransaction extends SqliteTransaction {
  begin(conn: unknown) {
    return this.query(conn, 'BEGIN IMMEDIATE;');
  }
}

/** Opens the database the configuration names: PostgreSQL when a URL is given, else SQLite in dataDir. */
export function createDb(options: { databaseUrl: string | undefined; dataDir: string }): Db {
  if (options.databaseUrl) {
    const db = knexFactory({
      client: 'pg',
      // pg-connection-string reads sslmode (disable, require, verify-ca, verify-full, no-verify) from the URL.
      // A host that drops packets must fail boot and /readyz in seconds, not after the OS's TCP timeout.
      connection: { connectionString: options.databaseUrl, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS },
      acquireConnectionTimeout: PG_CONNECT_TIMEOUT_MS * 2,
      pool: { min: 0, max: 10 },
      // Errors carry the statement with placeholders only: inlined values (an IP address, an email) would reach the log.
      compileSqlOnError: false,
      log: knexLog,
    }) as Db;
    db.dialect = 'postgres';
    return db;
  }
  mkdirSync(options.dataDir, { recursive: true });
  const filename = path.join(options.dataDir, 'pixbin.sqlite');
  const db = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    compileSqlOnError: false,
    log: knexLog,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma: (sql: string) => unknown }, done: (err: Error | null, conn: unknown) => void) {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          conn.pragma('foreign_keys = ON');
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  }) as Db;
  db.dialect = 'sqlite';
  // On the client instance, not a subclass: libraries (rate-limiter-flexible) read config.client === 'better-sqlite3'.
  (db.client as { transaction: (...args: unknown[]) => unknown }).transaction = function (this: unknown, ...args: unknown[]) {
    return new ImmediateTransaction(this, ...args);
  };
  return db;
}

/** SQLite caps bound parameters per statement: IN lists and multi-row inserts take at most this many at a time. */
export const SQLITE_INSERT_BATCH = 500;

/** A list cut into pieces of at most SQLITE_INSERT_BATCH, for IN lists and inserts that must stay under the cap. */
export function inBatches<T>(list: readonly T[], size = SQLITE_INSERT_BATCH): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < list.length; i += size) batches.push(list.slice(i, i + size));
  return batches;
}

export async function insertInBatches(db: Knex | Knex.Transaction, table: string, rows: object[]): Promise<void> {
  for (const batch of inBatches(rows)) await db(table).insert(batch);
}

/** Timestamps come back as Date on PostgreSQL and as epoch milliseconds on SQLite; callers always get a Date. */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return new Date(Number(value));
  if (typeof value === 'string') return new Date(value);
  throw new TypeError(`not a timestamp: ${String(value)}`);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** The database's own clock (jobs compare against it, so replicas with skewed clocks agree). */
export async function databaseNow(db: Db): Promise<Date> {
  if (db.dialect === 'postgres') {
    const result = await db.raw<{ rows: Array<{ now: Date }> }>('select now() as now');
    return toDate(result.rows[0]!.now);
  }
  const rows = await db.raw<Array<{ now: number }>>("select cast(unixepoch('subsec') * 1000 as integer) as now");
  return toDate(rows[0]!.now);
}

/** A unique-constraint violation on either database (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/.test(e.message ?? '');
}

/** A LIKE pattern matching text that contains `search`, with % _ and \ taken literally (ESCAPE '\'). */
export function containsPattern(search: string): string {
  return `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Raw results: PostgreSQL wraps rows in { rows }, better-sqlite3 returns the array itself. */
export const rawRows = <T>(result: unknown): T[] => (Array.isArray(result) ? (result as T[]) : ((result as { rows: T[] }).rows ?? []));
