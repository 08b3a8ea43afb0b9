import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBase62 } from '../lib/ids.js';
import { storageFullCode } from '../lib/storage-full.js';
import { ensureProcessTempDir, processTempDir, reapDeadTempDirs } from '../lib/temp-area.js';
import { assertValidKey, MissingObject, StorageError, StorageFull, type ByteRange, type ListedObject, type StorageDriver, type StoredObject } from './storage.js';

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

  /** The absolute path of a key's file, refused if the key would escape the root (a proxy's X-Sendfile names it). */
  localPath(key: string): string {
    return this.pathFor(key);
  }

  async put(key: string, body: Readable): Promise<{ size: number }> {
    // The content type is the S3 driver's business; files on disk are served with the type from the database.
    const target = this.pathFor(key);
    // This process's own folder in .tmp (lib/temp-area.ts): what a crash leaves there is removed on restart.
    const tempDir = await ensureProcessTempDir(path.join(this.root, TEMP_DIR));
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(tempDir, `${randomBase62(16)}.part`);
    // flush: fsync before close, so the rename below never exposes a file whose bytes are not on disk.
    const out = createWriteStream(temp, { flags: 'wx', mode: 0o640, flush: true });
    try {
      await pipeline(body, out);
      const { size } = await fs.stat(temp);
      await fs.rename(temp, target);
      await syncDirectory(path.dirname(target));
      return { size };
    } catch (err) {
      // A source that fails at once can beat the file's own open: wait until the stream has closed the file
      // it may still be creating, or the removal below would run first and the temp file would stay.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      await fs.rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathFor(key);
    let handle;
    try {
      handle = await fs.open(file, 'r'); // fails before any byte is promised to a client
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingObject(`no object at ${JSON.stringify(key)}`);
      throw err;
    }
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

  async move(from: string, to: string): Promise<boolean> {
    const source = this.pathFor(from);
    const target = this.pathFor(to);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.rename(source, target); // one filesystem: atomic, and readers never see half a file
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.exists(to);
      throw err;
    }
    await syncDirectory(path.dirname(target));
    return true;
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    const walk = async function* (dir: string, rel: string): AsyncIterable<ListedObject> {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (entry.name.startsWith('.')) continue; // the temp folder and anything else hidden is not an object
        const key = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) yield* walk(path.join(dir, entry.name), key);
        else if (entry.isFile() && key.startsWith(prefix)) {
          const stat = await fs.stat(path.join(dir, entry.name));
          yield { key, size: stat.size, modifiedAt: stat.mtime };
        }
      }
    };
    // Walk only the folder the prefix names, when it names one.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    yield* walk(folder ? this.pathFor(folder) : this.root, folder);
  }

  async check(): Promise<void> {
    const probe = path.join(this.root, TEMP_DIR, `probe-${randomBase62(8)}`);
    try {
      await fs.mkdir(path.dirname(probe), { recursive: true });
      await fs.writeFile(probe, 'pixbin');
      if ((await fs.readFile(probe, 'utf8')) !== 'pixbin') throw new Error('read back different bytes');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const message = `DATA_DIR: local storage at ${this.root} is not writable and readable (${reason})`;
      throw storageFullCode(err) ? new StorageFull(message, { cause: err }) : new StorageError(message);
    } finally {
      // A write that failed on a full disk still created the (empty) file: it goes too.
      await fs.rm(probe, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Removes what dead processes left in .tmp, whatever its age (their folders: see lib/temp-area.ts), and loose
   * temp files over an hour old (from before per-process folders); at boot and from the sweep-orphans job.
   */
  async removeStaleTempFiles(now = Date.now()): Promise<number> {
    const root = path.join(this.root, TEMP_DIR);
    processTempDir(root); // registers .tmp for the heartbeat's regular reaping
    const { deadFolders, staleEntries } = await reapDeadTempDirs(root, { now });
    return deadFolders + staleEntries;
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
