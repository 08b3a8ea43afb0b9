import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { withAdvisoryLock } from './advisory-lock.js';
import type { Db } from './knex.js';

// Compiled code lives in dist/server/db and its migrations in dist/migrations; under tsx both sit at the repo root.
const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../migrations');
const MIGRATION_FILE = /^\d{14}_[a-z0-9_]+\.(ts|js)$/;

type Migration = { up: (knex: Knex) => Promise<void>; down?: (knex: Knex) => Promise<void> };

/** Lists migrations by name without extension, so the same history is recognised from .ts and from compiled .js. */
class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return readdirSync(MIGRATIONS_DIR)
      .filter((f) => MIGRATION_FILE.test(f) && !f.endsWith('.d.ts'))
      .sort();
  }

  getMigrationName(file: string): string {
    return file.replace(/\.(ts|js)$/, '');
  }

  async getMigration(file: string): Promise<Migration> {
    return (await import(pathToFileURL(path.join(MIGRATIONS_DIR, file)).href)) as Migration;
  }
}

export const migrationConfig: Knex.MigratorConfig = {
  migrationSource: new DirectoryMigrationSource(),
  tableName: 'knex_migrations',
};

/** Migrations the database has applied that this code does not know: the database is newer than the code. */
export async function unknownAppliedMigrations(db: Knex): Promise<string[]> {
  if (!(await db.schema.hasTable('knex_migrations'))) return [];
  const known = new Set((await migrationConfig.migrationSource!.getMigrations([])).map((f) => migrationConfig.migrationSource!.getMigrationName(f)));
  const applied = (await db('knex_migrations').select('name')) as Array<{ name: string }>;
  return applied.map((r) => r.name.replace(/\.(ts|js)$/, '')).filter((name) => !known.has(name));
}

/**
 * Applies pending migrations. knex's own lock row cannot help processes that start together on an empty database:
 * both race to create knex_migrations itself, and the loser of the lock row gets an error instead of waiting. So on
 * PostgreSQL the whole run holds an advisory lock, and the replica that waited finds nothing left to apply.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  if (db.dialect === 'sqlite') return migrateSqliteWithRetry(db);
  return withAdvisoryLock(db, 'pixbin:migrations', async () => {
    const [, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
    return applied;
  });
}

const SQLITE_MIGRATION_ATTEMPTS = 40;
const SQLITE_MIGRATION_RETRY_MS = 250;

/**
 * SQLite has no advisory locks. Two processes on one file (the app and `npm run migrate` or `admin:create`) can
 * collide creating knex's bookkeeping tables, or find knex's lock row taken; both are transient, so wait and retry.
 */
async function migrateSqliteWithRetry(db: Db): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
      return applied;
    } catch (err) {
      const transient = (err as Error).name === 'MigrationLocked' || /knex_migrations\S*` already exists/.test((err as Error).message);
      if (!transient || attempt >= SQLITE_MIGRATION_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, SQLITE_MIGRATION_RETRY_MS));
    }
  }
}
