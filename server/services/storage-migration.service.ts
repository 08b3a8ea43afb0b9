import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ACCEPTED_TYPES } from '../lib/mime-sniff.js';
import type { ListedObject, StorageDriver } from '../storage/storage.js';

/**
 * Copies every object (originals, thumbnails and the recovery store) from one driver to another and verifies each
 * copy by reading it back and comparing SHA-256 digests. Safe to interrupt and run again: an object already in the
 * target with the same digest is skipped. The source is never changed.
 */
export type MigrationProgress = { done: number; total: number; bytes: number; elapsedMs: number };
export type MigrationReport = {
  total: number;
  copied: number;
  skipped: number;
  mismatched: string[];
  failed: Array<{ key: string; error: string }>;
  bytes: number;
  elapsedMs: number;
};

const CONCURRENCY = 4;

const contentTypeOf = (key: string): string | undefined => {
  const ext = key.slice(key.lastIndexOf('.') + 1);
  return ACCEPTED_TYPES.find((f) => f.ext === ext)?.mime;
};

async function digest(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Streams an object from source to target, hashing on the way; nothing is held in memory whole. */
async function copyObject(source: StorageDriver, target: StorageDriver, key: string): Promise<string> {
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const body = await source.get(key);
  const put = target.put(key, hashing, { contentType: contentTypeOf(key) }).catch((err: unknown) => {
    body.destroy(); // the target gave up: stop reading the source
    throw err;
  });
  await Promise.all([pipeline(body, hashing), put]);
  return hash.digest('hex');
}

export async function migrateStorage(
  source: StorageDriver,
  target: StorageDriver,
  onProgress: (progress: MigrationProgress) => void = () => undefined,
  clock: () => number = Date.now,
): Promise<MigrationReport> {
  const started = clock();
  const objects: ListedObject[] = [];
  for await (const object of source.list('')) if (!object.key.startsWith('.')) objects.push(object);
  const report: MigrationReport = { total: objects.length, copied: 0, skipped: 0, mismatched: [], failed: [], bytes: 0, elapsedMs: 0 };
  let done = 0;
  let next = 0;

  const migrateOne = async ({ key, size }: ListedObject) => {
    const existing = await target.stat(key);
    const sourceDigest = existing && existing.size === size ? await digest(await source.get(key)) : null;
    if (sourceDigest && (await digest(await target.get(key))) === sourceDigest) {
      report.skipped++;
      return;
    }
    const sent = await copyObject(source, target, key);
    report.bytes += size;
    if ((await digest(await target.get(key))) === sent) report.copied++;
    else report.mismatched.push(key);
  };

  const worker = async () => {
    while (next < objects.length) {
      const object = objects[next++]!;
      try {
        await migrateOne(object);
      } catch (err) {
        report.failed.push({ key: object.key, error: err instanceof Error ? err.message : String(err) });
      }
      done++;
      onProgress({ done, total: objects.length, bytes: report.bytes, elapsedMs: clock() - started });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  report.mismatched.sort();
  report.elapsedMs = clock() - started;
  return report;
}
