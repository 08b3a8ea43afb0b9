import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { createDb } from '../db/knex.js';
import { migrateToLatest } from '../db/migrate.js';

// `npm run migrate`: applies pending migrations to the configured database and exits.
try {
  loadDotEnv();
  const config = loadConfig();
  const db = createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrateToLatest(db);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
  } finally {
    await db.destroy();
  }
} catch (err) {
  process.stderr.write(`pixbin migrate: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exitCode = 1;
}
