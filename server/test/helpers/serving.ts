import { expect } from 'chai';
import type { Db } from '../../db/knex.js';
import { createRepos } from '../../db/repos.js';
import type { StorageDriver } from '../../storage/storage.js';
import { rawRequest, type RawResponse } from './http.js';
import type { WebClient } from './web-client.js';

/** How often the app read image bytes from its store (GET) or asked whether they are there (HEAD). */
export type StorageReads = { get: number; exists: number };

/** A driver that counts reads and passes everything to the real one (hand it to startTestApp's wrapStorage). */
export function countingStorage(reads: StorageReads) {
  return (storage: StorageDriver): StorageDriver => ({
    name: storage.name,
    put: (key, body, options) => storage.put(key, body, options),
    get: (key, range) => {
      reads.get++;
      return storage.get(key, range);
    },
    stat: (key) => storage.stat(key),
    exists: (key) => {
      reads.exists++;
      return storage.exists(key);
    },
    delete: (key) => storage.delete(key),
    move: (from, to) => storage.move(from, to),
    list: (prefix) => storage.list(prefix),
    check: () => storage.check(),
    ...(storage.localPath ? { localPath: (key: string) => storage.localPath!(key) } : {}),
  });
}

/** The database queries fn makes, counted from knex's query events (behaviour, not timing). */
export async function queriesDuring(db: Db, fn: () => Promise<unknown>): Promise<number> {
  let queries = 0;
  const count = () => queries++;
  db.on('query', count);
  try {
    await fn();
  } finally {
    db.removeListener('query', count);
  }
  return queries;
}

/**
 * Resolves once the serving caches of apps on this database handle may answer from memory: at once on SQLite, and
 * on PostgreSQL when the change feed is listening.
 */
export async function cachesTrusted(db: Db, withinMs = 10_000): Promise<void> {
  const changes = createRepos(db).imageChanges;
  const deadline = Date.now() + withinMs;
  while (!changes.coherent()) {
    if (Date.now() > deadline) throw new Error('the image change feed did not start listening');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** GET (or HEAD) as a guest, or as a signed-in client. */
export const fetchAs = (url: string, client?: WebClient, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> =>
  client ? client.request(url, options) : rawRequest(url, options);

/**
 * Fetches each URL until the fast path holds it (its row, and its bytes from the second request on), then proves
 * it: one more round costs no database query and no storage read.
 */
export async function warm(db: Db, reads: StorageReads, urls: string[], client?: WebClient): Promise<void> {
  for (let round = 0; round < 2; round++) for (const url of urls) expect((await fetchAs(url, client)).status, url).to.equal(200);
  const before = { ...reads };
  const queries = await queriesDuring(db, async () => {
    for (const url of urls) expect((await fetchAs(url, client)).status, url).to.equal(200);
  });
  expect(queries, 'queries once warm').to.equal(0);
  expect(reads, 'storage reads once warm').to.deep.equal(before);
}

/** Every way of fetching an image's bytes answers 404 (GET and HEAD of the image and the thumbnail). */
export async function expectGone(urls: string[], client?: WebClient): Promise<void> {
  for (const url of urls) {
    for (const method of ['GET', 'HEAD']) expect((await fetchAs(url, client, { method })).status, `${method} ${url}`).to.equal(404);
  }
}
