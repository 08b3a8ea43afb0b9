import fs from 'node:fs/promises';
import path from 'node:path';
import { migrateToLatest } from '../../db/migrate.js';
import type { Db } from '../../db/knex.js';
import { emptyTestBucket } from './s3.js';
import { appTables, createScratchDb, type ScratchDb } from './scratch-db.js';

/**
 * One database per test run: SQLite in a fresh temp folder, or, when PIXBIN_TEST_DB=postgres, a brand-new
 * PostgreSQL database created on the server named by TEST_DATABASE_URL and dropped afterwards.
 */
type TestDatabase = ScratchDb;

let current: TestDatabase | null = null;
/** The tables resetState() empties, in order: read from the schema once per run. */
let tablesToEmpty: Promise<string[]> | null = null;

export const testDialect = (): 'sqlite' | 'postgres' => (process.env.PIXBIN_TEST_DB === 'postgres' ? 'postgres' : 'sqlite');

export async function openTestDatabase(): Promise<TestDatabase> {
  if (testDialect() === 'postgres' && !process.env.TEST_DATABASE_URL) throw new Error('PIXBIN_TEST_DB=postgres needs TEST_DATABASE_URL');
  const scratch = await createScratchDb(testDialect());
  await migrateToLatest(scratch.db);
  current = scratch;
  tablesToEmpty = null;
  return current;
}

export function testDatabase(): TestDatabase {
  if (!current) throw new Error('the test database is opened by the root hooks (server/test/helpers/root-hooks.ts)');
  return current;
}

// audit_log is append-only (a trigger refuses deletes), so tests look up their own entries by actor instead of
// starting from an empty log.
const KEPT_TABLES = new Set(['audit_log']);

/** Parent tables of each table, from its foreign keys (self-references left out: one DELETE empties those). */
async function foreignKeyParents(db: Db, tables: readonly string[]): Promise<Map<string, Set<string>>> {
  const parents = new Map(tables.map((t) => [t, new Set<string>()]));
  const edges =
    db.dialect === 'postgres'
      ? (
          await db.raw<{ rows: Array<{ child: string; parent: string }> }>(
            `select child.relname as child, parent.relname as parent from pg_constraint c
             join pg_class child on child.oid = c.conrelid join pg_class parent on parent.oid = c.confrelid
             join pg_namespace n on n.oid = child.relnamespace where c.contype = 'f' and n.nspname = 'public'`,
          )
        ).rows
      : (
          await Promise.all(
            tables.map(async (child) => (await db.raw<Array<{ table: string }>>('pragma foreign_key_list(??)', [child])).map((fk) => ({ child, parent: fk.table }))),
          )
        ).flat();
  for (const { child, parent } of edges) if (child !== parent) parents.get(child)?.add(parent);
  return parents;
}

/** The tables to empty, children before parents: read from the schema, so a new migration needs no edit here. */
async function resetOrder(db: Db): Promise<string[]> {
  const tables = (await appTables(db)).filter((t) => !KEPT_TABLES.has(t));
  const parents = await foreignKeyParents(db, tables);
  const order: string[] = [];
  const left = new Set(tables);
  while (left.size) {
    // A table can go once no remaining table points at it.
    const ready = [...left].filter((t) => ![...left].some((other) => other !== t && parents.get(other)!.has(t)));
    if (!ready.length) throw new Error(`foreign keys form a cycle among ${[...left].join(', ')}: resetState cannot order them`);
    for (const t of ready) {
      order.push(t);
      left.delete(t);
    }
  }
  return order;
}

/** Empties every table, the storage folder and the test bucket: each test starts from nothing, whatever ran before. */
export async function resetState(): Promise<void> {
  const { db, dataDir } = testDatabase();
  tablesToEmpty ??= resetOrder(db);
  // Plain DELETEs: faster here than one transaction around them, and far faster than TRUNCATE on PostgreSQL.
  for (const table of await tablesToEmpty) await db(table).delete();
  await fs.rm(path.join(dataDir, 'storage'), { recursive: true, force: true });
  await emptyTestBucket();
  await fs.rm(path.join(dataDir, 'tmp'), { recursive: true, force: true });
}
