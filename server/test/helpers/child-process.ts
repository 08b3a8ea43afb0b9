import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { CONFIG_VARIABLES } from '../../config/config.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

// Every variable config.ts reads (and its _FILE form): a child sees only what the test sets.
const CONFIG_NAMES = new Set(CONFIG_VARIABLES.flatMap((name) => [name, `${name}_FILE`]));

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type Child = {
  readonly process: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** pino's JSON lines from stdout (anything else is skipped). */
  readonly logs: () => Array<Record<string, unknown>>;
  readonly exited: Promise<Exit>;
  /** Resolves with the exit, or rejects (and SIGKILLs the child) after timeoutMs. */
  waitForExit: (timeoutMs: number) => Promise<Exit>;
  /** Polls until predicate holds; rejects with the output so far after timeoutMs or if the child exits first. */
  waitUntil: (predicate: () => boolean, timeoutMs: number, what: string) => Promise<void>;
};

const running = new Set<ChildProcess>();

/** Kills (SIGKILL) every child still running; call from an after/afterEach hook. */
export function killAllChildren(): void {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
}

export function spawnChild(command: string, args: string[], env: Record<string, string>, input?: string): Child {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !CONFIG_NAMES.has(key)));
  const proc = spawn(command, args, { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) proc.stdin!.end(input);
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let done: Exit | null = null;
  const exited = new Promise<Exit>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      running.delete(proc);
      done = { code, signal };
      resolve(done);
    });
  });
  exited.catch(() => undefined); // a spawn error surfaces through waitForExit; never as an unhandled rejection
  const output = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const waitForExit = (timeoutMs: number) =>
    new Promise<Exit>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${command} ${args.join(' ')} did not exit within ${timeoutMs} ms${output()}`));
      }, timeoutMs);
      exited.then(
        (exit) => {
          clearTimeout(timer);
          resolve(exit);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        },
      );
    });

  const waitUntil = async (predicate: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (done) throw new Error(`exited (${JSON.stringify(done)}) before ${what}${output()}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms${output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const logs = () =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });

  return { process: proc, stdout: () => stdout, stderr: () => stderr, logs, exited, waitForExit, waitUntil };
}

/** Runs a TypeScript entry point of this repository the way `npm run dev` does, without the tsx CLI in between. */
export function spawnTs(entry: string, env: Record<string, string>, args: string[] = [], input?: string): Child {
  return spawnChild(process.execPath, ['--import', 'tsx', entry, ...args], env, input);
}

/** A TCP port that was free a moment ago (PORT=0 is not a valid setting). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
