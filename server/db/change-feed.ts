import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Logger } from 'pino';
import { isImageId } from '../lib/ids.js';
import { startClusterImageFeed } from './cluster-feed.js';
import { ALL_PAYLOAD, IMAGE_CHANNEL, imageChangesOf, type ImageChange } from './image-changes.js';
import type { Db } from './knex.js';

/** How often the listening connection proves it is alive, and how long one answer vouches for it. */
const HEARTBEAT_MS = 250;
/** Below the 1 s promise: a connection that died silently stops the caches before a missed change is 1 s old. */
const LEASE_MS = 900;
/** A heartbeat unanswered this long means the line is dead even if TCP has not noticed. */
const STALLED_MS = 5000;
const RECONNECT_MS = [100, 250, 500, 1000, 2000, 5000];
const CONNECT_TIMEOUT_MS = 5000;
/** How the listening connection shows in pg_stat_activity. */
export const FEED_APPLICATION_NAME = 'pixbin-image-changes';

export type ImageChangeFeed = { close(): Promise<void> };

const feeds = new WeakMap<Db, ImageChangeFeed>();

function parse(payload: string | undefined): ImageChange {
  if (!payload || payload === ALL_PAYLOAD) return 'all';
  const ids = payload.split(',');
  // Anyone with database access can NOTIFY; something unexpected is treated as "everything changed".
  return ids.every(isImageId) ? { ids } : 'all';
}

/**
 * Across replicas on PostgreSQL: one dedicated connection LISTENs on the channel that every images write NOTIFYs
 * (image-changes.ts) and hands what it hears to this process's caches. A heartbeat renews a lease; while the
 * lease holds the caches may answer from memory, and when it lapses (a dead or slow line) they read the database
 * until the feed has reconnected, listened again and forgotten everything it held, since notifications sent
 * meanwhile are lost. One feed per database handle; SQLite (one process) needs none.
 */
export function startImageChangeFeed(db: Db, options: { databaseUrl: string; logger: Logger }): ImageChangeFeed | null {
  if (db.dialect !== 'postgres') return null;
  const existing = feeds.get(db);
  if (existing) return existing;
  const changes = imageChangesOf(db);
  let client: pg.Client | null = null;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let healthy = true; // logs one warning per outage, not one per attempt

  const later = (fn: () => void, ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
    timer.unref();
  };

  const lost = (c: pg.Client, err?: unknown) => {
    if (client !== c) return;
    client = null;
    changes.extendLease(0);
    changes.receive('all');
    c.removeAllListeners('end');
    c.on('error', () => undefined); // a late socket error must not crash the process
    c.end().catch(() => undefined);
    if (closed) return;
    if (healthy) options.logger.warn({ err }, 'image change feed lost its PostgreSQL connection: caches read the database until it is back');
    healthy = false;
    later(connect, RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)]!);
  };

  const beat = (c: pg.Client) => {
    if (client !== c) return;
    const sent = performance.now();
    const stall = setTimeout(() => lost(c, new Error('heartbeat unanswered')), STALLED_MS);
    stall.unref();
    c.query('select 1').then(
      () => {
        clearTimeout(stall);
        if (client !== c) return;
        changes.extendLease(sent + LEASE_MS);
        later(() => beat(c), HEARTBEAT_MS);
      },
      (err: unknown) => {
        clearTimeout(stall);
        lost(c, err);
      },
    );
  };

  const connect = () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: options.databaseUrl, keepAlive: true, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: FEED_APPLICATION_NAME });
    c.on('notification', (message) => {
      if (client === c && message.channel === IMAGE_CHANNEL) changes.receive(parse(message.payload));
    });
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    client = c;
    c.connect()
      .then(() => c.query(`listen ${IMAGE_CHANNEL}`))
      .then(() => {
        if (client !== c) return;
        attempt = 0;
        if (!healthy) options.logger.info('image change feed is listening again');
        healthy = true;
        changes.receive('all'); // whatever was held before may have missed a notification
        beat(c);
      })
      .catch((err: unknown) => lost(c, err));
  };

  const feed: ImageChangeFeed = {
    async close() {
      closed = true;
      clearTimeout(timer);
      feeds.delete(db);
      const c = client;
      client = null;
      changes.extendLease(0);
      await c?.end().catch(() => undefined);
    },
  };
  feeds.set(db, feed);
  connect();
  return feed;
}

/**
 * The feed this process needs to hear other processes' image changes: LISTEN on PostgreSQL, the cluster relay for
 * a worker on SQLite, none for a lone SQLite process (it hears every write itself).
 */
export function startImageFeed(db: Db, options: { databaseUrl: string | undefined; logger: Logger }): ImageChangeFeed | null {
  if (db.dialect === 'postgres' && options.databaseUrl) return startImageChangeFeed(db, { databaseUrl: options.databaseUrl, logger: options.logger });
  return startClusterImageFeed(db, { logger: options.logger });
}

/** Stops the database handle's feed, if it has one (at shutdown, before the pool closes). */
export async function stopImageChangeFeed(db: Db): Promise<void> {
  await feeds.get(db)?.close();
}
