import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { backupSqliteFile } from '../db/sqlite-backup.js';

/**
 * Embedded-mode backups: `npm run backup -- <dir>` copies the SQLite database with SQLite's online backup API
 * (safe while Pixbin runs) and then the stored images; `npm run restore -- <dir>` puts both back into DATA_DIR.
 * Restore with Pixbin stopped. PostgreSQL installations use pg_dump and a copy of the data volume instead.
 */
const DB_FILE = 'pixbin.sqlite';
const usage = 'usage: backup.ts backup <dir> | restore <dir> [--force]';

async function backup(dataDir: string, target: string): Promise<void> {
  await fs.mkdir(target, { recursive: true });
  if ((await fs.readdir(target)).length) throw new Error(`${target} is not empty; choose a new folder for the backup`);
  await backupSqliteFile(path.join(dataDir, DB_FILE), path.join(target, DB_FILE));
  // Images are written once and never changed, so copying after the database is consistent: a row in the copy
  // always has its bytes (an image uploaded meanwhile is an orphan the restore does not serve).
  await fs.cp(path.join(dataDir, 'storage'), path.join(target, 'storage'), {
    recursive: true,
    filter: (src) => path.basename(src) !== '.tmp',
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await fs.writeFile(path.join(target, 'pixbin-backup.json'), JSON.stringify({ format: 1, createdAt: new Date().toISOString() }, null, 2));
}

async function restore(dataDir: string, source: string, force: boolean): Promise<void> {
  await fs.access(path.join(source, 'pixbin-backup.json')).catch(() => {
    throw new Error(`${source} is not a Pixbin backup (no pixbin-backup.json)`);
  });
  const existing = await fs.access(path.join(dataDir, DB_FILE)).then(() => true, () => false);
  if (existing && !force) throw new Error(`DATA_DIR ${dataDir} already has a database; stop Pixbin and add --force to replace it`);
  await fs.mkdir(dataDir, { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) await fs.rm(path.join(dataDir, DB_FILE + suffix), { force: true });
  await fs.copyFile(path.join(source, DB_FILE), path.join(dataDir, DB_FILE));
  await fs.rm(path.join(dataDir, 'storage'), { recursive: true, force: true });
  await fs.cp(path.join(source, 'storage'), path.join(dataDir, 'storage'), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

try {
  loadDotEnv();
  const config = loadConfig();
  const [command, dir, flag] = process.argv.slice(2);
  if (!dir || (command !== 'backup' && command !== 'restore')) throw new Error(usage);
  if (config.databaseUrl) throw new Error('DATABASE_URL is set: back PostgreSQL up with pg_dump and copy DATA_DIR/storage (see the README)');
  const target = path.resolve(dir);
  if (command === 'backup') await backup(config.dataDir, target);
  else await restore(config.dataDir, target, flag === '--force');
  process.stdout.write(`${command === 'backup' ? 'backed up' : 'restored'}: ${config.dataDir} ${command === 'backup' ? '->' : '<-'} ${target}\n`);
  if (config.storageDriver === 's3') {
    process.stdout.write(`note: STORAGE_DRIVER=s3, so this covers the database only; the images are in bucket ${config.s3?.bucket ?? '(unset)'}: keep them with the store's own versioning or replication\n`);
  }
} catch (err) {
  process.stderr.write(`pixbin ${process.argv[2] ?? 'backup'}: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exitCode = 1;
}
