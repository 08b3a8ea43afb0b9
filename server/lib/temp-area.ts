import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, rmSync, utimesSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBase62 } from './ids.js';
import { STALE_AFTER_MS } from './stale-files.js';

/**
 * Per-process temp folders. Each process writes its temp files (uploads being received, images being processed,
 * objects being stored) under <root>/<its folder>/, never loose in <root>, and keeps touching that folder's mtime
 * every HEARTBEAT_MS. A folder whose mtime is older than DEAD_AFTER_MS belongs to a dead process (kill -9, a power
 * cut, an OOM kill): any process sharing the root removes it whole, whatever the age of its files, at start-up and
 * every HEARTBEAT_MS after. A live replica's folder, even one idle for days, is never touched. mtime works for
 * replicas on other hosts sharing the folder over NFS; a process on this host (same pid namespace) whose pid is
 * gone is known dead at once, which is how a restart after a crash cleans up at start-up rather than 30 s later.
 *
 * Loose entries in the root (from Pixbin before this change, from the CLI) keep the old rule: gone once an hour old.
 * On a graceful exit the process removes its own folders, after any cleanup still in flight (settleTempFiles), and
 * at the very least synchronously in an 'exit' hook, so even a process.exit() mid-drain leaves nothing.
 */

export const HEARTBEAT_MS = 10_000;
export const DEAD_AFTER_MS = 30_000;

function namespaceTag(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? 'x';
  } catch {
    return 'x'; // not Linux: the pid shortcut is off, the heartbeat alone decides
  }
}

/**
 * Which machine and boot this is: the host name alone is not enough (two NFS clients may share one, and the initial
 * pid namespace has the same inode on every Linux machine), so the kernel's boot id goes in too. A folder from
 * another machine, or from before a reboot, never counts as "same host" and is judged by its heartbeat alone.
 */
function machineBoot(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `${os.hostname()}-${process.pid}-${Date.now()}`; // unknown: a tag no other process shares
  }
}

const HOST_TAG = createHash('sha256').update(`${os.hostname()}\n${machineBoot()}`).digest('hex').slice(0, 8);
const NS_TAG = namespaceTag();
/** This process's folder name in every temp root: <random>.<host>.<pid namespace>.<pid>. */
export const PROCESS_FOLDER = `${randomBase62(10)}.${HOST_TAG}.${NS_TAG}.${process.pid}`;
const FOLDER_PATTERN = /^[0-9A-Za-z]{10}\.([0-9a-f]{8})\.(\d+|x)\.(\d+)$/;

const roots = new Set<string>();
const pending = new Set<Promise<unknown>>();
let timer: NodeJS.Timeout | null = null;
let exitHooked = false;

function ownFolder(root: string): string {
  return path.join(root, PROCESS_FOLDER);
}

function beat(): void {
  const at = new Date();
  for (const root of roots) {
    // Synchronous on purpose: a busy libuv pool (libvips runs on it) must never delay the heartbeat past DEAD_AFTER_MS.
    try {
      utimesSync(ownFolder(root), at, at);
    } catch {
      // Not created yet (no temp file so far), or the root itself is gone: created again when next needed.
    }
    void reapDeadTempDirs(root).catch(() => undefined);
  }
}

function register(root: string): void {
  if (roots.has(root)) return;
  roots.add(root);
  void reapDeadTempDirs(root).catch(() => undefined); // start-up: what a crashed process left goes now
  if (!timer) {
    timer = setInterval(beat, HEARTBEAT_MS);
    timer.unref();
  }
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const known of roots) rmSync(ownFolder(known), { recursive: true, force: true });
    });
  }
}

/**
 * This process's temp folder under root (not created yet: see ensureProcessTempDir). Registers root for the
 * heartbeat and for reaping dead processes' folders, starting with one reap now.
 */
export function processTempDir(root: string): string {
  const resolved = path.resolve(root);
  register(resolved);
  return ownFolder(resolved);
}

/** This process's temp folder under root, created if it is not there (the first temp file, or after a reset). */
export async function ensureProcessTempDir(root: string): Promise<string> {
  const dir = processTempDir(root);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: alive, someone else's
  }
}

export type ReapResult = { deadFolders: number; staleEntries: number };

/**
 * Removes the folders of dead processes under root (see above), and loose entries older than looseAfterMs. Never
 * this process's own folder, never a folder with a fresh heartbeat.
 */
export async function reapDeadTempDirs(root: string, options: { now?: number; looseAfterMs?: number } = {}): Promise<ReapResult> {
  const now = options.now ?? Date.now();
  const looseAfterMs = options.looseAfterMs ?? STALE_AFTER_MS;
  const result: ReapResult = { deadFolders: 0, staleEntries: 0 };
  let entries: string[];
  try {
    entries = await fs.readdir(root);
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (entry === PROCESS_FOLDER) continue;
    const full = path.join(root, entry);
    const stat = await fs.lstat(full).catch(() => null);
    if (!stat) continue;
    const folder = stat.isDirectory() ? FOLDER_PATTERN.exec(entry) : null;
    if (folder) {
      const sameHost = folder[1] === HOST_TAG && folder[2] === NS_TAG && NS_TAG !== 'x';
      const dead = (sameHost && isGone(Number(folder[3]))) || now - stat.mtimeMs > DEAD_AFTER_MS;
      if (!dead) continue;
      await fs.rm(full, { recursive: true, force: true });
      result.deadFolders += 1;
    } else if (now - stat.mtimeMs > looseAfterMs) {
      await fs.rm(full, { recursive: true, force: true });
      result.staleEntries += 1;
    }
  }
  return result;
}

/** Keeps a cleanup the process must finish before it exits (a temp file removed as its response closes). */
export function trackCleanup(cleanup: Promise<unknown>): void {
  const tracked = cleanup.catch(() => undefined).finally(() => pending.delete(tracked));
  pending.add(tracked);
}

/**
 * For a graceful shutdown, once the server has closed: waits for the temp-file removals still in flight, then
 * removes this process's folders and stops the heartbeat.
 */
export async function settleTempFiles(): Promise<void> {
  while (pending.size) await Promise.all([...pending]);
  if (timer) clearInterval(timer);
  timer = null;
  await Promise.all([...roots].map((root) => fs.rm(ownFolder(root), { recursive: true, force: true })));
}

/** Bytes free for this process on the filesystem holding dir (or its nearest existing parent); null if unknown. */
export async function freeBytes(dir: string): Promise<number | null> {
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      const stats = await fs.statfs(at);
      return stats.bavail * stats.bsize;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(at) === at) return null;
    }
  }
}

/** The registered temp roots (DATA_DIR/tmp, storage/.tmp) that have fewer than minBytes free. */
export async function tempRootsShortOfSpace(minBytes: number): Promise<string[]> {
  const short: string[] = [];
  for (const root of roots) {
    const free = await freeBytes(root);
    if (free !== null && free < minBytes) short.push(root);
  }
  return short;
}
