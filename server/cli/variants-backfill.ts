import { parseArgs } from 'node:util';
import pino from 'pino';
import { prepareRuntime } from '../boot.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { createRepos } from '../db/repos.js';
import { humanBytes } from '../lib/format.js';
import { backfillDisplayVariants } from '../services/display-variants.service.js';

// `npm run variants:backfill [-- --limit N]`: makes the display variant of every image uploaded before display
// variants existed. Safe to stop (Ctrl-C) and run again: it carries on with the images that still have none. The
// app may keep running meanwhile; its backfill-display-variants job does the same work a little at a time.
const USAGE = 'usage: npm run variants:backfill [-- --limit N]   (N: stop after N images)';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { limit: { type: 'string' } }, strict: true });
  if (values.limit !== undefined && !/^[1-9]\d{0,8}$/.test(values.limit)) {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  loadDotEnv();
  const config = loadConfig();
  const { db, storage, tempDir } = await prepareRuntime(config);
  try {
    const logger = pino({ level: config.logLevel === 'silent' ? 'silent' : 'warn' }, pino.destination(2));
    const started = Date.now();
    const report = await backfillDisplayVariants(
      { repos: createRepos(db), storage, logger, workDir: tempDir, displayMaxPx: config.displayMaxPx },
      {
        limit: values.limit === undefined ? undefined : Number(values.limit),
        onProgress: (p) => process.stderr.write(`${p.made} made, ${p.failed} failed, ${humanBytes(p.bytes)} written; up to image ${p.lastId}\n`),
      },
    );
    const lines = [
      `display variants made: ${report.made} (${humanBytes(report.bytes)}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `failed: ${report.failed}${report.failedIds.length ? ` (${report.failedIds.join(', ')})` : ''}`,
      report.more ? 'stopped at the limit: run it again to carry on.' : 'done: every image with its original in storage has a display variant.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return report.failed ? 1 : 0;
  } finally {
    storage.destroy?.();
    await db.destroy();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`pixbin variants:backfill: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    process.exitCode = 1;
  },
);
