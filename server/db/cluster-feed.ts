import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { isImageId } from '../lib/ids.js';
import type { ImageChangeFeed } from './change-feed.js';
import { imageChangesOf, type ImageChange } from './image-changes.js';
import type { Db } from './knex.js';

/**
 * Messages on the cluster's IPC channel (worker ⇄ primary). A worker says hello; the primary answers ready once it
 * relays to that worker; from then on every image change a worker makes reaches every other worker through the
 * primary, in the order it was sent.
 */
type FeedMessage =
  | { pixbin: 'image-feed-hello' }
  | { pixbin: 'image-feed-ready' }
  | { pixbin: 'image-feed-beat' }
  | { pixbin: 'image-changes'; change: ImageChange };

/**
 * The primary beats every HEARTBEAT_MS; a worker trusts its caches for LEASE_MS after each beat. A primary that
 * stops relaying without closing the channel (stopped, or stuck) therefore costs at most LEASE_MS of stale
 * answers, within the one-second bound, as on PostgreSQL (change-feed.ts).
 */
const HEARTBEAT_MS = 250;
const LEASE_MS = 900;

const isFeedMessage = (message: unknown): message is FeedMessage =>
  typeof message === 'object' && message !== null && typeof (message as { pixbin?: unknown }).pixbin === 'string';

/** What arrives over IPC is our own processes' JSON, but anything unexpected still means "everything changed". */
function parse(change: unknown): ImageChange {
  if (change === 'all') return 'all';
  const ids = (change as { ids?: unknown } | null)?.ids;
  return Array.isArray(ids) && ids.every((id) => typeof id === 'string' && isImageId(id)) ? { ids: ids as string[] } : 'all';
}

const feeds = new WeakMap<Db, ImageChangeFeed>();

/**
 * Between cluster workers on SQLite, which has no NOTIFY: this worker's image changes go to the primary over IPC
 * (at the write and again when the transaction settles, as this process's own caches hear them), and the primary
 * passes them to every other worker. Until the primary has answered this worker's hello, and again once the
 * channel is gone, the caches read the database (coherent() is false), so they never hold a row whose change they
 * could not hear of. A worker whose primary is gone exits (Node's cluster does that); one whose primary is alive but
 * not relaying loses its lease within LEASE_MS of the last beat. Null outside a cluster worker, or on PostgreSQL, where NOTIFY reaches every process (change-feed.ts).
 */
export function startClusterImageFeed(db: Db, options: { logger: Logger }): ImageChangeFeed | null {
  if (db.dialect !== 'sqlite' || !cluster.isWorker || !process.send) return null;
  const existing = feeds.get(db);
  if (existing) return existing;
  const changes = imageChangesOf(db);
  changes.sharedWithOtherProcesses();
  let closed = false;

  const send = (message: FeedMessage) => {
    // With a callback, a channel that closed meanwhile is reported here instead of as an 'error' event.
    if (process.connected) process.send!(message, (err: Error | null) => err && lost(err));
  };
  const stopRelay = changes.relay((change) => send({ pixbin: 'image-changes', change }));

  const onMessage = (message: unknown) => {
    if (!isFeedMessage(message)) return;
    if (message.pixbin === 'image-changes') changes.receive(parse(message.change));
    else if ((message.pixbin === 'image-feed-ready' || message.pixbin === 'image-feed-beat') && !closed) changes.extendLease(Date.now() + LEASE_MS);
  };
  let gone = false;
  const lost = (err?: unknown) => {
    changes.extendLease(0);
    changes.receive('all');
    if (closed || gone) return;
    gone = true;
    options.logger.warn({ err }, 'image change relay to the other workers is gone: caches read the database');
  };
  const onDisconnect = () => lost();
  process.on('message', onMessage);
  process.once('disconnect', onDisconnect);

  const feed: ImageChangeFeed = {
    async close() {
      closed = true;
      feeds.delete(db);
      stopRelay();
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      changes.extendLease(0);
    },
  };
  feeds.set(db, feed);
  send({ pixbin: 'image-feed-hello' });
  return feed;
}

/**
 * The primary's half: answers each worker's hello and passes every worker's image changes to all the others.
 * Installed before the first fork, so it is in place before any worker can speak. Returns the uninstaller.
 */
export function relayImageChangesBetweenWorkers(): () => void {
  // A worker that is exiting misses nothing it could still serve from: its replacement starts with empty caches.
  const ignoreClosed = () => undefined;
  const beat = setInterval(() => {
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) worker.send({ pixbin: 'image-feed-beat' } satisfies FeedMessage, ignoreClosed);
    }
  }, HEARTBEAT_MS);
  beat.unref();
  const onMessage = (from: Worker, message: unknown) => {
    if (!isFeedMessage(message)) return;
    if (message.pixbin === 'image-feed-hello') {
      if (from.isConnected()) from.send({ pixbin: 'image-feed-ready' } satisfies FeedMessage, ignoreClosed);
      return;
    }
    if (message.pixbin !== 'image-changes') return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker && worker !== from && worker.isConnected()) worker.send(message, ignoreClosed);
    }
  };
  cluster.on('message', onMessage);
  return () => {
    clearInterval(beat);
    cluster.off('message', onMessage);
  };
}
