import fs from 'node:fs/promises';
import path from 'node:path';
import { migrateToLatest } from '../../db/migrate.js';
import { emptyTestBucket } from './s3.js';
import { createScratchDb, type ScratchDb } from './scratch-db.js';

/**
 * One database per test run: SQLite in a fresh temp folder, or, when PIXBIN_TEST_DB=postgres, a brand-new
 * PostgreSQL database created on the server named by TEST_DATABASE_URL and dropped afterwards.
 */
type TestDatabase = ScratchDb;

let current: TestDatabase | null = null;

export const testDialect = (): 'sqlite' | 'postgres' => (process.env.PIXBIN_TEST_DB === 'postgres' ? 'postgres' : 'sqlite');

export async function openTestDatabase(): Promise<TestDatabase> {
  if (testDialect() === 'postgres' && !process.env.TEST_DATABASE_URL) throw new Error('PIXBIN_TEST_DB=postgres needs TEST_DATABASE_URL');
  const scratch = await createScratchDb(testDialect());
  await migrateToLatest(scratch.db);
  current = scratch;
  return current;
}

export function testDatabase(): TestDatabase {
  if (!current) throw new Error('the test database is opened by the root hooks (server/test/helpers/root-hooks.ts)');
  return current;
}

// Children before parents, for the foreign keys. audit_log is append-only (a trigger refuses deletes), so tests
// look up their own entries by actor instead of starting from an empty log.
const TABLES = ['counter_notices', 'reports', 'ip_bans', 'hash_blocklist', 'privacy_requests', 'album_images', 'albums', 'consent_log', 'email_tokens', 'sessions', 'rate_limits', 'recovery_items', 'images', 'users', 'security_log', 'app_secrets', 'job_runs', 'daily_stats'];

/** Empties every table, the storage folder and the test bucket: each test starts from nothing, whatever ran before. */
export async function resetState(): Promise<void> {
  const { db, dataDir } = testDatabase();
  for (const table of TABLES) await db(table).delete();
  await fs.rm(path.join(dataDir, 'storage'), { recursive: true, force: true });
  await emptyTestBucket();
  await fs.rm(path.join(dataDir, 'tmp'), { recursive: true, force: true });
}
