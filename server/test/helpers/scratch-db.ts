import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { randomBase62 } from '../../lib/ids.js';
import { createDb, type Db, type Dialect } from '../../db/knex.js';
import { migrationConfig } from '../../db/migrate.js';

/** The PostgreSQL server the tests may create databases on (trust auth, as in CI). */
export const POSTGRES_SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type ScratchPostgres = { url: string; name: string; drop: () => Promise<void> };

/** Creates an empty PostgreSQL database on the server; drop() removes it even while connections are open. */
export async function createScratchPostgres(serverUrl = POSTGRES_SERVER_URL): Promise<ScratchPostgres> {
  const name = `pixbin_scratch_${randomBase62(10).toLowerCase()}`;
  const admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`create database ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const again = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
      try {
        await again.raw(`drop database if exists ${name} with (force)`);
      } finally {
        await again.destroy();
      }
    },
  };
}

export type ScratchDb = { db: Db; dataDir: string; databaseUrl: string | undefined; dispose: () => Promise<void> };

/** A database separate from the run's shared one, empty (not migrated), of the given dialect. */
export async function createScratchDb(dialect: Dialect): Promise<ScratchDb> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-scratch-'));
  const pg = dialect === 'postgres' ? await createScratchPostgres() : null;
  const db = createDb({ databaseUrl: pg?.url, dataDir });
  return {
    db,
    dataDir,
    databaseUrl: pg?.url,
    dispose: async () => {
      await db.destroy();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The application's tables (migration bookkeeping excluded), sorted. */
export async function appTables(db: Db): Promise<string[]> {
  const names =
    db.dialect === 'postgres'
      ? ((await db.raw<{ rows: Array<{ name: string }> }>("select tablename as name from pg_tables where schemaname = 'public'")).rows)
      : await db.raw<Array<{ name: string }>>("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'");
  return names
    .map((r) => r.name)
    .filter((n) => !n.startsWith('knex_migrations'))
    .sort();
}

/** Every migration in migrations/, in the order they run. */
export const MIGRATION_NAMES: readonly string[] = readdirSync('migrations')
  .filter((f) => /^\d{14}_\w+\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

/** The tables the migrations create (update it with every new table). */
export const APP_TABLES: readonly string[] = ['album_images', 'albums', 'altcha_spent', 'api_keys', 'api_requests', 'app_secrets', 'audit_log', 'consent_log', 'counter_notices', 'daily_stats', 'email_tokens', 'hash_blocklist', 'images', 'ip_bans', 'job_runs', 'privacy_requests', 'rate_limits', 'recovery_items', 'reports', 'security_log', 'sessions', 'storage_cleanup', 'users', 'webhook_attempts', 'webhook_deliveries', 'webhook_endpoints'];

/** Applies migrations one at a time up to and including `last` (a test of a backfill inserts old rows in between). */
export async function migrateThrough(db: Db, last: string): Promise<void> {
  for (const name of MIGRATION_NAMES) {
    await db.migrate.up(migrationConfig);
    if (name === last) return;
  }
  throw new Error(`no migration ${last}`);
}
