/**
 * Runs the mocha suite in passes. The integration tier (server/test/integration/) depends on the database and the
 * storage driver, so it runs on every pass: SQLite with local storage, SQLite with S3 storage (a loopback s3rver)
 * and, when TEST_DATABASE_URL names a PostgreSQL server, PostgreSQL with local storage. The unit tier uses fakes
 * and the browser tier drives the pages (its S3 test starts a bucket of its own), so both run once, on the first
 * pass. The fault drills (server/test/faults/) start their own PostgreSQL and Pixbin processes, so they also run
 * once, on the first pass. Each pass is one mocha process with its own fresh database (helpers/test-db.ts) and bucket (helpers/s3.ts).
 *
 *   tsx server/test/run-suites.ts [--pass sqlite|s3|postgres]... [mocha options]
 *
 * --pass (repeatable) runs only the named passes; any other argument goes to mocha (e.g. --grep upload).
 * Passes run one after another: on two cores, the S3 and PostgreSQL passes side by side took 275 s against 261 s
 * in turn, so running them concurrently is not worth the extra load (and timing-sensitive tests).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

type Tier = 'unit' | 'integration' | 'browser' | 'faults';
type Pass = { id: string; name: string; env: Record<string, string>; tiers: Tier[] };

const TEST_ROOT = 'server/test';
const TIERS: readonly Tier[] = ['unit', 'integration', 'browser', 'faults'];

const passes: Pass[] = [
  { id: 'sqlite', name: 'SQLite', env: { PIXBIN_TEST_DB: 'sqlite', PIXBIN_TEST_STORAGE: 'local' }, tiers: ['unit', 'integration', 'browser', 'faults'] },
  { id: 's3', name: 'SQLite + S3 storage', env: { PIXBIN_TEST_DB: 'sqlite', PIXBIN_TEST_STORAGE: 's3' }, tiers: ['integration'] },
  { id: 'postgres', name: 'PostgreSQL', env: { PIXBIN_TEST_DB: 'postgres', PIXBIN_TEST_STORAGE: 'local' }, tiers: ['integration'] },
];

function parseArgs(argv: string[]): { only: string[]; mochaArgs: string[] } {
  const only: string[] = [];
  const mochaArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--pass') only.push(argv[++i] ?? '');
    else if (arg.startsWith('--pass=')) only.push(arg.slice('--pass='.length));
    else mochaArgs.push(arg);
  }
  for (const id of only) {
    if (!passes.some((p) => p.id === id)) throw new Error(`--pass ${id}: no such pass (passes: ${passes.map((p) => p.id).join(', ')})`);
  }
  return { only, mochaArgs };
}

/** A test file outside the tier folders would silently run nowhere: refuse to start instead. */
function checkEveryTestHasATier(): void {
  const stray = readdirSync(TEST_ROOT, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .filter((file) => !TIERS.some((tier) => file.startsWith(`${tier}${path.sep}`)));
  if (stray.length) throw new Error(`test files outside ${TIERS.map((t) => `${TEST_ROOT}/${t}/`).join(', ')} would never run: ${stray.join(', ')}`);
}

const mocha = path.join(process.cwd(), 'node_modules', 'mocha', 'bin', 'mocha.js');

/** How much of a failing pass's report is printed again at the very end (CI shows only the tail of the output). */
const FAILURE_REPORT_CHARS = 12_000;

/**
 * Runs one pass, passing its output through as it comes, and returns its exit code and, when it failed, mocha's
 * "N failing" report (or the last lines, if mocha died before writing one), so the end of the run can repeat it.
 */
function run(pass: Pass, mochaArgs: string[]): Promise<{ code: number; report: string }> {
  console.log(`\n=== Pixbin tests on ${pass.name}: ${pass.tiers.join(', ')} ===`);
  const specs = pass.tiers.map((tier) => `${TEST_ROOT}/${tier}/**/*.test.ts`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, ...specs, ...mochaArgs], { stdio: ['inherit', 'pipe', 'pipe'], env: { ...process.env, ...pass.env } });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-FAILURE_REPORT_CHARS);
    });
    child.on('close', (code, signal) => {
      const exit = code ?? (signal ? 1 : 0);
      if (exit === 0) return resolve({ code: 0, report: '' });
      const failing = stdout.search(/^\s*\d+ failing/m);
      const report = failing >= 0 ? stdout.slice(failing) : `${stdout.slice(-FAILURE_REPORT_CHARS / 2)}\n${stderrTail}`;
      resolve({ code: exit, report: report.slice(0, FAILURE_REPORT_CHARS) });
    });
  });
}

const { only, mochaArgs } = parseArgs(process.argv.slice(2));
checkEveryTestHasATier();
let selected = only.length ? passes.filter((p) => only.includes(p.id)) : passes;
if (!process.env.TEST_DATABASE_URL && selected.some((p) => p.id === 'postgres')) {
  if (only.includes('postgres')) throw new Error('--pass postgres needs TEST_DATABASE_URL');
  console.warn('TEST_DATABASE_URL is not set: the PostgreSQL pass is skipped (CI always sets it).');
  selected = selected.filter((p) => p.id !== 'postgres');
}

const results: Array<{ pass: Pass; code: number; report: string; seconds: number }> = [];
for (const pass of selected) {
  const started = performance.now();
  const { code, report } = await run(pass, mochaArgs);
  results.push({ pass, code, report, seconds: (performance.now() - started) / 1000 });
}

const width = Math.max(...results.map((r) => `${r.pass.name} (${r.pass.tiers.join(', ')})`.length));
console.log('\n=== Wall time per pass ===');
for (const { pass, code, seconds } of results) {
  console.log(`${`${pass.name} (${pass.tiers.join(', ')})`.padEnd(width)}  ${seconds.toFixed(1).padStart(7)} s  ${code === 0 ? 'passed' : `FAILED (exit ${code})`}`);
}
console.log(`${'Total'.padEnd(width)}  ${results.reduce((sum, r) => sum + r.seconds, 0).toFixed(1).padStart(7)} s`);

for (const { pass, code, report } of results) {
  if (code !== 0) console.log(`\n=== What failed on ${pass.name} (exit ${code}) ===\n${report.trimEnd()}`);
}

const failed = results.filter((r) => r.code !== 0).map((r) => r.pass.name);
if (failed.length) {
  console.error(`\nFailed on: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nAll passes green: ${results.map((r) => r.pass.name).join(', ')}`);
