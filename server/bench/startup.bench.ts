/**
 * Cold start: from spawning the server with a fresh DATA_DIR (so every migration runs) to the first 200 from
 * /readyz, three runs each, median. The compiled build is what `npm start` runs; tsx is shown for comparison.
 */
import { appEntry, NPM_START_ENTRY, startApp, TSX_ENTRY, type AppEntry } from './app-child.js';
import { ms, printTable, type Bench, type BenchOptions } from './bench-helpers.js';

const RUNS = 3;

async function coldStarts(entry: AppEntry): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const app = await startApp(entry);
    times.push(app.readyMs);
    await app.stop();
  }
  return times;
}

async function run(_options: BenchOptions): Promise<void> {
  const entry = appEntry();
  console.log(`  Build: ${entry.note}`);
  const entries: Array<{ label: string; entry: AppEntry }> = [];
  if (entry.kind === 'dist') {
    entries.push({ label: 'node dist/server/main.js', entry });
    entries.push({ label: 'npm start (npm itself + any prestart)', entry: NPM_START_ENTRY });
  }
  entries.push({ label: 'node --import tsx server/main.ts (npm run dev)', entry: TSX_ENTRY });
  const rows: string[][] = [];
  for (const { label, entry: e } of entries) {
    const times = await coldStarts(e);
    const sorted = [...times].sort((a, b) => a - b);
    rows.push([label, ms(sorted[Math.floor(RUNS / 2)]!), times.map((t) => t.toFixed(0)).join(', ')]);
  }
  printTable(['entry', 'median to /readyz 200', `runs (ms)`], rows);
  console.log('  Goal (issue 14): cold start to /readyz ≤ 1.5 s (fresh SQLite DATA_DIR: all migrations run).');
}

export const startupBench: Bench = { name: 'startup', title: 'Cold start to /readyz', run };
