import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBase62 } from '../lib/ids.js';
import { removeStaleEntries } from '../lib/stale-files.js';
import { assertValidKey, StorageError, type ByteRange, type StorageDriver, type StoredObject } from './storage.js';

const TEMP_DIR = '.tmp';

/**
 * Resolves key under root, refusing any key that would land outside it. Keys are server-generated and validated,
 * so a client can never name or create a link; symlinks an operator placed inside the root (say, images/ on
 * another disk) are followed on purpose.
 */
export function containedPath(root: string, key: string): string {
  assertValidKey(key);
  const resolved = path.resolve(root, key);
  if (resolved !== root && !resolved.startsWith(root + path.sep)) {
    throw new StorageError(`storage key escapes the storage root: ${JSON.stringify(key.slice(0, 80))}`);
  }
  return resolved;
}

export class LocalStorage implements StorageDriver {
  readonly name = 'local';
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private pathFor(key: string): string {
    return containedPath(this.root, key);
  }

  async put(key: string, body: Readable): Promise<{ size: number }> {
    const target = this.pathFor(key);
    const tempDir = path.join(this.root, TEMP_DIR);
    await fs.mkdir(tempDir, { recursive: true });
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(tempDir, `${randomBase62(16)}.part`);
    try {
      // flush: fsync before close, so the rename below never exposes a file whose bytes are not on disk.
      await pipeline(body, createWriteStream(temp, { flags: 'wx', mode: 0o640, flush: true }));
      const { size } = await fs.stat(temp);
      await fs.rename(temp, target);
      await syncDirectory(path.dirname(target));
      return { size };
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathFor(key);
    const handle = await fs.open(file, 'r'); // fails with ENOENT before any byte is promised to a client
    return handle.createReadStream({ start: range?.start, end: range?.end });
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const s = await fs.stat(this.pathFor(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathFor(key), { force: true });
  }

  async check(): Promise<void> {
    const probe = path.join(this.root, TEMP_DIR, `probe-${randomBase62(8)}`);
    try {
      await fs.mkdir(path.dirname(probe), { recursive: true });
      await fs.writeFile(probe, 'pixbin');
      if ((await fs.readFile(probe, 'utf8')) !== 'pixbin') throw new Error('read back different bytes');
      await fs.rm(probe);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StorageError(`DATA_DIR: local storage at ${this.root} is not writable and readable (${reason})`);
    }
  }

  /** Removes temp files a crash left behind (older than an hour, so other replicas' writes survive); called at boot. */
  async removeStaleTempFiles(now = Date.now()): Promise<number> {
    return removeStaleEntries(path.join(this.root, TEMP_DIR), now);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the file itself is already synced.
  } finally {
    await handle.close();
  }
}
