import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { humanBytes } from '../lib/format.js';
import { migrateStorage, type MigrationProgress } from '../services/storage-migration.service.js';
import { createLocalStorage, createS3Storage } from '../storage/create-storage.js';
import type { StorageDriver } from '../storage/storage.js';

// `npm run storage:migrate -- --to s3` (or `--to local`): copies every object to the other backend and verifies it.
// Run it with the app still on the old backend, then set STORAGE_DRIVER and restart; run it again first if uploads
// arrived meanwhile (it copies only what is new or different).
const USAGE = 'usage: npm run storage:migrate -- --to s3|local';

function progressLine(p: MigrationProgress): string {
  const rate = p.elapsedMs > 0 ? (p.bytes / (p.elapsedMs / 1000)) : 0;
  return `${p.done}/${p.total} objects, ${humanBytes(p.bytes)} copied, ${humanBytes(rate)}/s`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { to: { type: 'string' } }, strict: true });
  if (values.to !== 's3' && values.to !== 'local') {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  loadDotEnv();
  const config = loadConfig();
  if (!config.s3) throw new ConfigError('S3_BUCKET (and the other S3_ settings) must name the bucket to migrate to or from');
  const local = createLocalStorage(config);
  const s3 = createS3Storage(config);
  const [source, target]: [StorageDriver, StorageDriver] = values.to === 's3' ? [local, s3] : [s3, local];
  try {
    await source.check();
    await target.check();
    process.stderr.write(`copying from ${source.name} to ${target.name}…\n`);
    let lastPrint = 0;
    const report = await migrateStorage(source, target, (p) => {
      if (p.done === p.total || Date.now() - lastPrint >= 1000) {
        lastPrint = Date.now();
        process.stderr.write(`${progressLine(p)}\n`);
      }
    });
    const lines = [
      `objects: ${report.total}`,
      `copied: ${report.copied}`,
      `skipped (already there, same checksum): ${report.skipped}`,
      `mismatched: ${report.mismatched.length}`,
      `failed: ${report.failed.length}`,
      `bytes copied: ${humanBytes(report.bytes)} in ${(report.elapsedMs / 1000).toFixed(1)} s`,
      ...report.mismatched.map((key) => `  mismatch: ${key}`),
      ...report.failed.map((f) => `  failed: ${f.key} (${f.error})`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const clean = report.mismatched.length === 0 && report.failed.length === 0;
    process.stdout.write(
      clean
        ? `done: every object is in ${target.name} and verified. Set STORAGE_DRIVER=${values.to} and restart Pixbin.\n`
        : 'not done: run the command again to retry what failed; do not switch STORAGE_DRIVER yet.\n',
    );
    return clean ? 0 : 1;
  } finally {
    s3.destroy();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`pixbin storage:migrate: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    process.exitCode = 1;
  },
);
