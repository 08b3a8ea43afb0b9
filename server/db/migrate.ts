import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

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

/** Applies pending migrations. knex holds its migration lock meanwhile, so replicas starting together apply each once. */
export async function migrateToLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
  return applied;
}
