import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.js';

/**
 * Loads `.env` from the working directory when there is one, so `npm start` picks up a copied `.env.example`.
 * Variables already set in the real environment win; Docker and systemd users need no file at all.
 */
export function loadDotEnv(cwd = process.cwd()): void {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return;
  try {
    process.loadEnvFile(file);
  } catch (err) {
    throw new ConfigError(`.env: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
