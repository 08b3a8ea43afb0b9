/**
 * `npm run bench [-- name…]`: Pixbin's performance as ratios to references measured in the same run on the same
 * machine (nginx, a bare node:http server, bare sharp), plus gallery latency, memory and cold start. Figures are
 * reported, never asserted: speed goals live here, not in the test suite.
 *
 * Settings: BENCH_QUICK=1 (short runs, small data: checks the bench itself), BENCH_WRK_SECONDS (default 8),
 * BENCH_DATABASE_URL or TEST_DATABASE_URL (a PostgreSQL server for the gallery bench's scratch database),
 * BENCH_NO_BUILD=1 (never run `npm run build`; a stale dist/ then means tsx), BENCH_APP_<NAME>=value (passes
 * <NAME>=value to the Pixbin child processes, e.g. BENCH_APP_WEB_CONCURRENCY=2), BENCH_CPU_PROF=<dir> (each Pixbin
 * child writes a V8 .cpuprofile there when it stops; open it in Chrome DevTools or speedscope for a flame graph).
 */
import { execSync } from 'node:child_process';
import os from 'node:os';
import sharp from 'sharp';
import { killAllChildren } from '../test/helpers/child-process.js';
import type { Bench, BenchOptions } from './bench-helpers.js';
import { galleryBench } from './gallery.bench.js';
import { servingBench } from './serving.bench.js';
import { startupBench } from './startup.bench.js';
import { streamingBench } from './streaming.bench.js';
import { uploadsBench } from './uploads.bench.js';

const BENCHES: Bench[] = [startupBench, servingBench, uploadsBench, galleryBench, streamingBench];

function gitRevision(): string {
  try {
    const head = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${head}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length) {
  console.error(`Unknown bench ${unknown.join(', ')}. Choose from: ${BENCHES.map((b) => b.name).join(', ')} (none: all).`);
  process.exit(2);
}
const selected = names.length ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
const quick = process.env.BENCH_QUICK === '1';
const options: BenchOptions = { quick, wrkSeconds: Number(process.env.BENCH_WRK_SECONDS) || (quick ? 2 : 8) };

const cpus = os.cpus();
console.log('# Pixbin bench');
console.log(`Date:     ${new Date().toISOString()}`);
console.log(`Machine:  ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}`);
console.log(`Load:     ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (1, 5, 15 min averages at start: other work on the machine skews every figure)`);
console.log(`Runtime:  Node ${process.version}, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`);
console.log(`Code:     ${gitRevision()}`);
console.log(`Run:      ${selected.map((b) => b.name).join(', ')}${quick ? ' (BENCH_QUICK=1: short runs, small data; not for comparison)' : ''}`);

const started = performance.now();
let failed = false;
try {
  for (const bench of selected) {
    console.log(`\n## ${bench.title}`);
    const t0 = performance.now();
    try {
      await bench.run(options);
    } catch (err) {
      failed = true;
      console.log(`  FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    console.log(`  (${bench.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
} finally {
  killAllChildren();
}
console.log(`\nTotal: ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);
