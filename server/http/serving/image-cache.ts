import { LRUCache } from 'lru-cache';
import type { ImageChange } from '../../db/image-changes.js';
import type { ImageRecord } from '../../db/images.repo.js';
import type { Repos } from '../../db/repos.js';
import { servedImageOf, type ServedImage } from './variants.js';
import { NO_METRICS, type Metrics } from '../../metrics/types.js';

/** Rows kept in memory: about 600 bytes an entry (measured), so about 30 MB when full. */
export const IMAGE_CACHE_ENTRIES = 50_000;

/**
 * Image rows by id for the fast path, kept coherent by the images repository's change reports (image-changes.ts):
 * every statement that changes a row drops it here at the write and again when its transaction settles, and on
 * PostgreSQL other replicas' changes arrive through the change feed. Misses are not kept, so a new upload is never
 * hidden. The access check always runs on what this returns, so nothing dropped here can be served.
 */
export class ServedImageCache {
  readonly #rows: LRUCache<string, ServedImage>;
  /**
   * Reads in flight, shared by concurrent requests for one id (a burst on a new image costs one query). A change
   * removes the id's read from here, which tells that read not to store what it found: it may be the old row.
   */
  readonly #loading = new Map<string, Promise<ServedImage | null>>();
  readonly #dropped: Array<(change: ImageChange) => void> = [];
  /** Counts the changes heard; rows read before a change may be stale, so prime() refuses them. */
  #changes = 0;

  constructor(
    private readonly repos: Pick<Repos, 'images' | 'imageChanges'>,
    max = IMAGE_CACHE_ENTRIES,
    private readonly metrics: Pick<Metrics, 'cacheLookup'> = NO_METRICS,
  ) {
    this.#rows = new LRUCache({ max });
    // Held weakly: an app that is dropped (tests build many on one database) leaves nothing subscribed behind.
    const self = new WeakRef(this);
    const unsubscribe = repos.imageChanges.subscribe((change) => {
      const cache = self.deref();
      if (cache) cache.#drop(change);
      else unsubscribe();
    });
  }

  /** Also told of every change (the bytes cache drops the same images). */
  onDrop(listener: (change: ImageChange) => void): void {
    this.#dropped.push(listener);
  }

  /** The row if it is held and this process may trust it now; undefined: ask find(). Not counted: the image front counts its lookup once. */
  peek(id: string): ServedImage | undefined {
    return this.repos.imageChanges.coherent() ? this.#rows.get(id) : undefined;
  }

  /**
   * The row (its served fields), from memory when this process may trust it, else from the database. `count`: false
   * when the caller already counted this request's lookup (the image front did, before handing it on).
   */
  find(id: string, count = true): Promise<ServedImage | null> {
    const trusted = this.repos.imageChanges.coherent();
    const held = trusted ? this.#rows.get(id) : undefined;
    if (count) this.metrics.cacheLookup('rows', held !== undefined);
    if (held) return Promise.resolve(held);
    const pending = this.#loading.get(id);
    if (pending) return pending;
    const load = this.repos.images.findById(id).then(
      (row) => {
        const unchanged = this.#loading.get(id) === load;
        if (unchanged) this.#loading.delete(id);
        const image = row && servedImageOf(row);
        if (image && trusted && unchanged && this.repos.imageChanges.coherent()) this.#rows.set(id, image);
        return image;
      },
      (err: unknown) => {
        if (this.#loading.get(id) === load) this.#loading.delete(id);
        throw err;
      },
    );
    this.#loading.set(id, load);
    return load;
  }

  /**
   * Where the change count stands: read it before reading rows from the database, and hand it to prime() with them.
   */
  get epoch(): number {
    return this.#changes;
  }

  /**
   * Holds rows a gallery page has just read, so the thumbnails it shows cost no query each. Taken only if no change
   * was heard since `since` (any change at all: a deleted or hidden image's old row must never be put back) and the
   * process may trust its cache; rows already held are left as they are.
   */
  prime(images: readonly ImageRecord[], since: number): void {
    if (since !== this.#changes || !this.repos.imageChanges.coherent()) return;
    for (const image of images) if (!this.#rows.has(image.id) && !this.#loading.has(image.id)) this.#rows.set(image.id, servedImageOf(image));
  }

  /** How many rows are held (tests and the bench). */
  get size(): number {
    return this.#rows.size;
  }

  #drop(change: ImageChange): void {
    this.#changes++;
    if (change === 'all') {
      this.#rows.clear();
      this.#loading.clear();
    } else {
      for (const id of change.ids) {
        this.#rows.delete(id);
        this.#loading.delete(id);
      }
    }
    for (const listener of this.#dropped) listener(change);
  }
}
