import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import type { Db, Dialect } from './knex.js';

/** Rows of the images table that changed (inserted, updated or deleted), or every row when a statement cannot name them. */
export type ImageChange = { ids: readonly string[] } | 'all';
type Listener = (change: ImageChange) => void;

/** The PostgreSQL channel replicas tell each other on (see change-feed.ts). */
export const IMAGE_CHANNEL = 'pixbin_images';
/** 12-character ids and a comma: 13 bytes each, so 500 stay well under PostgreSQL's 8000-byte payload limit. */
const IDS_PER_NOTIFICATION = 500;
/** Past this many, one "everything changed" is cheaper for every replica than naming them. */
const MOST_IDS_NAMED = 5000;
export const ALL_PAYLOAD = '*';

/**
 * Who hears that image rows changed: the serving caches of this process. One per database handle, so every set of
 * repositories built on it (the container's, a CLI's, a test's) reports to the same listeners.
 */
export class ImageChanges {
  readonly #listeners = new Set<Listener>();
  /** Who carries this process's own changes to other processes (the cluster relay on SQLite; see cluster-feed.ts). */
  readonly #relays = new Set<Listener>();
  /** Until when (performance.now()) the change feed vouches that no other process's change went unheard. */
  #leaseUntil = 0;
  /** Whether other processes write too, so caches may trust what they hold only while a feed vouches for it. */
  #shared: boolean;

  constructor(readonly dialect: Dialect) {
    this.#shared = dialect === 'postgres';
  }

  /** Listeners are called synchronously, at the write and again when its transaction settles. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A change this process made: its listeners hear it, and so do the relays to other processes. */
  publish(change: ImageChange): void {
    if (change !== 'all' && change.ids.length === 0) return;
    for (const listener of this.#listeners) listener(change);
    for (const relay of this.#relays) relay(change);
  }

  /** A change another process made (or "forget everything" from a feed): only this process's listeners hear it. */
  receive(change: ImageChange): void {
    if (change !== 'all' && change.ids.length === 0) return;
    for (const listener of this.#listeners) listener(change);
  }

  /** Carries every change published here to other processes (the cluster relay). */
  relay(to: Listener): () => void {
    this.#relays.add(to);
    return () => this.#relays.delete(to);
  }

  /**
   * Whether a cache may answer from what it holds. A lone SQLite process hears every write; on PostgreSQL, or with
   * SQLite in several worker processes (sharedWithOtherProcesses), only while the change feed is listening and
   * has answered within its lease.
   */
  coherent(): boolean {
    return !this.#shared || performance.now() < this.#leaseUntil;
  }

  /** Other processes write to this database too (cluster workers on SQLite): trust caches only under a lease. */
  sharedWithOtherProcesses(): void {
    this.#shared = true;
  }

  /** Called by the change feed after each answered heartbeat (a time from performance.now()), or 0 when it lost the line. */
  extendLease(until: number): void {
    this.#leaseUntil = until;
  }
}

const registry = new WeakMap<Knex, ImageChanges>();

/** The change notifier of a database handle (created on first use). */
export function imageChangesOf(db: Db): ImageChanges {
  let changes = registry.get(db);
  if (!changes) {
    changes = new ImageChanges(db.dialect);
    registry.set(db, changes);
  }
  return changes;
}

/** The NOTIFY payloads for a change: a few comma-separated lists of ids, or "*". */
export function notificationPayloads(change: ImageChange): string[] {
  if (change === 'all' || change.ids.length > MOST_IDS_NAMED) return [ALL_PAYLOAD];
  const payloads: string[] = [];
  for (let i = 0; i < change.ids.length; i += IDS_PER_NOTIFICATION) payloads.push(change.ids.slice(i, i + IDS_PER_NOTIFICATION).join(','));
  return payloads;
}

/** What an images statement reports: its result, and the ids of the rows it changed (or all). */
export type Changed<T> = { result: T; changed: readonly string[] | 'all' };

/**
 * How a repository bound to one connection reports its writes. Listeners hear of a change at the write and again
 * after the transaction settles: a concurrent reader may have read (and cached) the old row in between. On
 * PostgreSQL the other replicas are told by NOTIFY on the writing connection, which PostgreSQL delivers exactly
 * when the write commits, and never for a rollback.
 */
export type ImageWriteLog = {
  write<T>(db: Knex, statement: (db: Knex) => Promise<Changed<T>>): Promise<T>;
  /** The log for a transaction on this connection; settle() runs when it has committed or rolled back. */
  inTransaction(): ImageWriteLog & { settle(): void };
};

async function notifyReplicas(db: Knex, change: ImageChange): Promise<void> {
  for (const payload of notificationPayloads(change)) await db.raw('select pg_notify(?, ?)', [IMAGE_CHANNEL, payload]);
}

const toChange = (changed: readonly string[] | 'all'): ImageChange => (changed === 'all' ? 'all' : { ids: changed });
const isEmpty = (changed: readonly string[] | 'all') => changed !== 'all' && changed.length === 0;

/** The log for the pool; record is set for a transaction, to collect what it changed. */
export function imageWriteLog(changes: ImageChanges, record?: (changed: readonly string[] | 'all') => void): ImageWriteLog {
  const postgres = changes.dialect === 'postgres';
  return {
    async write(db, statement) {
      if (record) {
        const { result, changed } = await statement(db);
        if (isEmpty(changed)) return result;
        record(changed);
        changes.publish(toChange(changed));
        if (postgres) await notifyReplicas(db, toChange(changed));
        return result;
      }
      // Outside a transaction on PostgreSQL the write and its NOTIFY still commit together.
      const { result, changed } = postgres
        ? await db.transaction(async (trx) => {
            const done = await statement(trx);
            if (!isEmpty(done.changed)) await notifyReplicas(trx, toChange(done.changed));
            return done;
          })
        : await statement(db);
      changes.publish(toChange(changed));
      return result;
    },
    inTransaction() {
      const ids = new Set<string>();
      let all = false;
      const log = imageWriteLog(changes, (changed) => {
        record?.(changed); // a savepoint's changes are its parent transaction's too
        if (changed === 'all') all = true;
        else for (const id of changed) ids.add(id);
      });
      return { ...log, settle: () => changes.publish(all ? 'all' : { ids: [...ids] }) };
    },
  };
}
