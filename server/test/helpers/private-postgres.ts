import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './child-process.js';

/**
 * A PostgreSQL server of the test's own, for fault drills that stop and start the database: initdb into a fresh
 * temp folder, pg_ctl on a free loopback port with its socket in that folder. The shared server on 5432 is never
 * touched. As root (CI, the dev machines) the server runs as the `postgres` user, since initdb refuses root.
 */
export type PrivatePostgres = {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication). */
  readonly url: string;
  readonly port: number;
  /** Stops the server at once (pg_ctl stop -m immediate: no shutdown checkpoint, clients cut off), like a crash. */
  stop(): Promise<void>;
  /** Starts it again (after crash recovery) and resolves once it accepts connections. */
  start(): Promise<void>;
  /** The server's own log, for a failure message. */
  log(): Promise<string>;
  /** Stops the server if it runs and removes its folder. */
  destroy(): Promise<void>;
};

const messages = {
  noInitdb:
    'initdb and pg_ctl were not found (looked in /usr/lib/postgresql/*/bin and on PATH): install the Debian package `postgresql` (apt-get install postgresql) to run the database fault drills.',
};

/** The newest PostgreSQL's bin folder that has initdb and pg_ctl, or one on PATH. */
function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = path.join(root, version, 'bin');
    if (existsSync(path.join(bin, 'initdb')) && existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(messages.noInitdb);
}

type RunAs = { uid: number; gid: number } | null;

function runAs(): RunAs {
  if (process.getuid?.() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, and there is no `postgres` user to run a private PostgreSQL as (install the Debian package `postgresql`)');
  }
}

function run(command: string, args: string[], user: RunAs): Promise<void> {
  return new Promise((resolve, reject) => {
    // PG* variables from the caller's shell would point the tools at another server.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
    const child = spawn(command, args, { env: { ...env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

const live = new Set<() => void>();
// A test run that ends without destroy() (a failed hook, Ctrl-C) must not leave a server behind.
process.once('exit', () => {
  for (const stopNow of live) stopNow();
});

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findBinDir();
  const user = runAs();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-private-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (user) await fs.chown(dir, user.uid, user.gid);
  const port = await freePort();
  const pgCtl = path.join(bin, 'pg_ctl');
  // Durability is irrelevant here and fsync would only slow the drill down.
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=40`;
  let running = false;

  const start = async () => {
    await run(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], user);
    running = true;
  };
  const stop = async () => {
    running = false;
    await run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60'], user);
  };
  const stopNow = () => {
    if (!running) return;
    try {
      execFileSync(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate'], { stdio: 'ignore', ...(user ?? {}) });
    } catch {
      // already gone
    }
  };

  try {
    await run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], user);
    await start();
  } catch (err) {
    stopNow();
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  live.add(stopNow);

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    log: () => fs.readFile(logFile, 'utf8').catch(() => ''),
    destroy: async () => {
      live.delete(stopNow);
      if (running) await stop().catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
