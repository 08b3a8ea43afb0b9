import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { randomBase62 } from '../../lib/ids.js';
import { createDb, type Db } from '../../db/knex.js';
import { migrateToLatest } from '../../db/migrate.js';

/**
 * One database per test run: SQLite in a fresh temp folder, or, when PIXBIN_TEST_DB=postgres, a brand-new
 * PostgreSQL database created on the server named by TEST_DATABASE_URL and dropped afterwards.
 */
type TestDatabase = { db: Db; dataDir: string; databaseUrl: string | undefined; dispose: () => Promise<void> };

let current: TestDatabase | null = null;

export const testDialect = (): 'sqlite' | 'postgres' => (process.env.PIXBIN_TEST_DB === 'postgres' ? 'postgres' : 'sqlite');

async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('PIXBIN_TEST_DB=postgres needs TEST_DATABASE_URL');
  const name = `pixbin_test_${randomBase62(10).toLowerCase()}`;
  const admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${name}`);
  await admin.destroy();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const again = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
      await again.raw(`drop database if exists ${name} with (force)`);
      await again.destroy();
    },
  };
}

export async function openTestDatabase(): Promise<TestDatabase> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-test-'));
  const pg = testDialect() === 'postgres' ? await createPostgresDatabase() : null;
  const db = createDb({ databaseUrl: pg?.url, dataDir });
  await migrateToLatest(db);
  current = {
    db,
    dataDir,
    databaseUrl: pg?.url,
    dispose: async () => {
      await db.destroy();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
  return current;
}

export function testDatabase(): TestDatabase {
  if (!current) throw new Error('the test database is opened by the root hooks (server/test/helpers/root-hooks.ts)');
  return current;
}

const TABLES = ['images', 'security_log'];

/** Empties every table and the storage folder: each test starts from nothing, whatever ran before. */
export async function resetState(): Promise<void> {
  const { db, dataDir } = testDatabase();
  for (const table of TABLES) await db(table).delete();
  await fs.rm(path.join(dataDir, 'storage'), { recursive: true, force: true });
  await fs.rm(path.join(dataDir, 'tmp'), { recursive: true, force: true });
}
