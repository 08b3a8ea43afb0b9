import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config/config.js';
import { createDb, type Db } from './db/knex.js';
import { migrateToLatest, unknownAppliedMigrations } from './db/migrate.js';
import { removeStaleEntries } from './lib/stale-files.js';
import { createStorage } from './storage/create-storage.js';
import { LocalStorage } from './storage/local.storage.js';
import type { StorageDriver } from './storage/storage.js';

export type Runtime = { db: Db; storage: StorageDriver; tempDir: string };

export class BootError extends Error {
  override name = 'BootError';
}

class NewerDatabase extends Error {}

/**
 * Everything start-up needs before HTTP: data folders, the database (migrated) and a storage check. A cluster
 * worker (preparedByPrimary) only opens them: its primary did the rest once, before forking.
 */
export async function prepareRuntime(config: Config, onMigrated?: (applied: string[]) => void, options: { preparedByPrimary?: boolean } = {}): Promise<Runtime> {
  const tempDir = path.join(config.dataDir, 'tmp');
  if (options.preparedByPrimary) {
    return { db: createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }), storage: createStorage(config), tempDir };
  }
  try {
    await fs.mkdir(tempDir, { recursive: true });
    // Leftovers from a crash; recent files may belong to another replica's upload in progress.
    await removeStaleEntries(tempDir);
  } catch (err) {
    throw new BootError(`DATA_DIR: cannot use ${config.dataDir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const storage = createStorage(config);
  await storage.check();
  if (storage instanceof LocalStorage) await storage.removeStaleTempFiles();

  const db = createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  let applied: string[];
  try {
    const unknown = await unknownAppliedMigrations(db);
    if (unknown.length) {
      throw new NewerDatabase(
        `the database was migrated by a newer Pixbin (unknown migration ${unknown.join(', ')}); run that version or newer, never an older image, against it`,
      );
    }
    applied = await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    const what = config.databaseUrl ? 'DATABASE_URL: cannot prepare the PostgreSQL database' : 'DATA_DIR: cannot prepare the SQLite database';
    if (err instanceof NewerDatabase) throw new BootError(`${what}: ${err.message}`);
    throw new BootError(`${what} (${(err as Error).message})`);
  }
  onMigrated?.(applied);
  return { db, storage, tempDir };
}
