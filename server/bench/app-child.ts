/**
 * Runs Pixbin in a child process, the way an operator does, so its RSS and CPU are measured alone. The compiled
 * build (dist/, what `npm start` runs) is used when it is at least as new as the sources; a stale one is rebuilt
 * first, and if the build fails the sources run through tsx (the bench says which).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, REPO_ROOT, spawnChild, type Child } from '../test/helpers/child-process.js';
import { rawRequest } from '../test/helpers/http.js';
import { descendants, sleep } from './bench-helpers.js';

export type AppEntry = { kind: 'dist' | 'tsx' | 'npm'; command: string; args: string[]; note: string };

const DIST_MAIN = path.join(REPO_ROOT, 'dist/server/main.js');
const SOURCE_DIRS = ['server', 'migrations'];
const NOT_BUILT = new Set(['test', 'bench']);

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!NOT_BUILT.has(entry.name)) newest = Math.max(newest, newestSource(full));
    } else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

export const TSX_ENTRY: AppEntry = { kind: 'tsx', command: process.execPath, args: ['--import', 'tsx', path.join(REPO_ROOT, 'server/main.ts')], note: 'tsx server/main.ts' };
/** `npm start` itself: npm's own start-up plus whatever its pre-scripts do (it must not compile on every start). */
export const NPM_START_ENTRY: AppEntry = { kind: 'npm', command: 'npm', args: ['start', '--silent'], note: 'npm start' };

let cached: AppEntry | null = null;

/** dist when fresh (building it when stale, unless BENCH_NO_BUILD=1), else the TypeScript sources through tsx. */
export function appEntry(): AppEntry {
  if (cached) return cached;
  const dist: AppEntry = { kind: 'dist', command: process.execPath, args: [DIST_MAIN], note: 'node dist/server/main.js' };
  const tsx = TSX_ENTRY;
  const sources = Math.max(...SOURCE_DIRS.map((d) => newestSource(path.join(REPO_ROOT, d))));
  const fresh = existsSync(DIST_MAIN) && statSync(DIST_MAIN).mtimeMs >= sources;
  if (fresh) return (cached = { ...dist, note: `${dist.note} (dist is newer than every source file)` });
  if (process.env.BENCH_NO_BUILD === '1') return (cached = { ...tsx, note: 'tsx server/main.ts (dist missing or stale, BENCH_NO_BUILD=1)' });
  const started = performance.now();
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (build.status === 0) return (cached = { ...dist, note: `${dist.note} (rebuilt with npm run build in ${seconds} s: dist was missing or older than the sources)` });
  const why = `${build.stdout}${build.stderr}`.trim().split('\n').slice(0, 3).join(' / ');
  return (cached = { ...tsx, note: `tsx server/main.ts (npm run build failed: ${why})` });
}

export type AppChild = {
  url: string;
  pid: number;
  dataDir: string;
  child: Child;
  /** From spawn to the first 200 from /readyz. */
  readyMs: number;
  stop: () => Promise<void>;
};

/**
 * Extra settings for the child: BENCH_APP_<NAME>=value in the bench's environment becomes <NAME>=value (e.g.
 * BENCH_APP_WEB_CONCURRENCY=2); the bench's own Pixbin variables never leak into the child otherwise.
 */
function passedThrough(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env)
      .filter(([key, value]) => key.startsWith('BENCH_APP_') && value !== undefined)
      .map(([key, value]) => [key.slice('BENCH_APP_'.length), value!]),
  );
}

/** Starts Pixbin on a free loopback port with a fresh DATA_DIR (SQLite) and waits for /readyz. */
export async function startApp(entry: AppEntry, env: Record<string, string> = {}): Promise<AppChild> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-app-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  // BENCH_CPU_PROF=<dir>: each node child writes a V8 CPU profile there when it stops (for a flame graph).
  const profileDir = process.env.BENCH_CPU_PROF;
  const args = profileDir && entry.kind !== 'npm' ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`, ...entry.args] : entry.args;
  const child = spawnChild(entry.command, args, {
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    LOG_LEVEL: 'warn',
    ...passedThrough(),
    ...env,
  });
  const deadline = Date.now() + 60_000;
  let readyMs = 0;
  for (;;) {
    const answer = await rawRequest(`${url}/readyz`).catch(() => null);
    if (answer?.status === 200) {
      readyMs = performance.now() - started;
      break;
    }
    if (child.process.exitCode !== null || Date.now() > deadline) {
      child.process.kill('SIGKILL');
      throw new Error(`Pixbin did not become ready (${entry.note})\n${child.stdout()}\n${child.stderr()}`);
    }
    await sleep(5);
  }
  const stop = async () => {
    // npm may not pass the signal on to the server it started, so every process in the tree gets it.
    for (const pid of [...descendants(child.process.pid!), child.process.pid!]) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await child.waitForExit(30_000).catch(() => undefined);
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  return { url, pid: child.process.pid!, dataDir, child, readyMs, stop };
}
