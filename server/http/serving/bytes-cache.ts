import { LRUCache } from 'lru-cache';
import type { ImageChange } from '../../db/image-changes.js';
import type { StorageDriver } from '../../storage/storage.js';
import type { HeldBytes, StoredFile } from '../serve-stored-file.js';
import { NO_METRICS, type Metrics } from '../../metrics/types.js';

export const BYTES_CACHE_LIMITS = {
  /** All held bytes together. */
  maxBytes: 64 * 1024 * 1024,
  /** Larger variants always stream: the cache is for thumbnails and small originals. */
  maxEntryBytes: 256 * 1024,
  /**
   * Bytes removed from storage outside Pixbin (by hand, or lost) are noticed within this long, or sooner by the
   * orphan sweep, which marks the row. Every deletion through Pixbin removes the row first, which drops the bytes
   * here at once.
   */
  ttlMs: 5 * 60_000,
  /** How many keys are remembered as requested once (see admission below). */
  seenKeys: 20_000,
};

type Held = { imageId: string; sha256: string; bytes: Buffer };

/** Reads a whole object into one buffer of its own (a slice of Node's shared pool would pin the whole pool slab). */
async function readAll(storage: StorageDriver, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of await storage.get(key)) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const bytes = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(bytes, offset);
  return bytes;
}

/**
 * Small hot variants in memory, bounded in bytes, keyed by storage key and checked against the row's SHA-256.
 * Admission waits for a variant's second request: most images are seen once, and holding those would push out
 * the ones that are actually hot. Serving reads here only after the access check on a coherent row, and every
 * change to an image drops its bytes too.
 */
export class VariantBytesCache {
  readonly #held: LRUCache<string, Held>;
  readonly #seen: LRUCache<string, true>;
  readonly #loading = new Map<string, Promise<Buffer>>();
  /** Storage keys held per image id, so a change to one image drops exactly its variants. */
  readonly #keysOf = new Map<string, Set<string>>();
  #epoch = 0;

  constructor(
    readonly limits = BYTES_CACHE_LIMITS,
    private readonly metrics: Pick<Metrics, 'cacheLookup'> = NO_METRICS,
  ) {
    this.#held = new LRUCache<string, Held>({
      maxSize: limits.maxBytes,
      maxEntrySize: limits.maxEntryBytes,
      sizeCalculation: (held) => Math.max(1, held.bytes.length),
      ttl: limits.ttlMs,
      dispose: (held, key) => {
        const keys = this.#keysOf.get(held.imageId);
        keys?.delete(key);
        if (keys?.size === 0) this.#keysOf.delete(held.imageId);
      },
    });
    this.#seen = new LRUCache({ max: limits.seenKeys });
  }

  /** What serveStoredFile reads one image's variants through. */
  of(imageId: string): HeldBytes {
    return {
      peek: (file) => this.#peek(file),
      read: (file, storage) => this.#read(imageId, file, storage),
    };
  }

  /** The bytes if they are held now (the image front answers only from memory). */
  peek(file: StoredFile): Buffer | undefined {
    const bytes = this.#peek(file);
    // Counted here as a hit only: a miss falls back to the router, whose read() counts it once.
    if (bytes) this.metrics.cacheLookup('bytes', true);
    return bytes;
  }

  drop(change: ImageChange): void {
    this.#epoch++;
    if (change === 'all') {
      this.#held.clear();
      this.#loading.clear();
      return;
    }
    for (const id of change.ids) {
      for (const key of [...(this.#keysOf.get(id) ?? [])]) {
        this.#held.delete(key);
        this.#loading.delete(key);
      }
    }
  }

  /** Bytes held now (tests and the bench). */
  get heldBytes(): number {
    return this.#held.calculatedSize;
  }

  #peek(file: StoredFile): Buffer | undefined {
    const held = this.#held.get(file.key);
    return held && held.sha256 === file.sha256 ? held.bytes : undefined;
  }

  async #read(imageId: string, file: StoredFile, storage: StorageDriver): Promise<Buffer | undefined> {
    const held = this.#peek(file);
    this.metrics.cacheLookup('bytes', held !== undefined);
    if (held) return held;
    if (file.size > this.limits.maxEntryBytes) return undefined;
    if (!this.#seen.get(file.key)) {
      this.#seen.set(file.key, true);
      return undefined;
    }
    const pending = this.#loading.get(file.key);
    if (pending) return pending;
    const epoch = this.#epoch;
    const load = readAll(storage, file.key).finally(() => {
      if (this.#loading.get(file.key) === load) this.#loading.delete(file.key);
    });
    this.#loading.set(file.key, load);
    const bytes = await load;
    // Not the size the row promised (replaced or cut short outside Pixbin): stream it as today, keep nothing.
    if (bytes.length !== file.size) return undefined;
    if (epoch === this.#epoch) {
      this.#held.set(file.key, { imageId, sha256: file.sha256, bytes });
      let keys = this.#keysOf.get(imageId);
      if (!keys) this.#keysOf.set(imageId, (keys = new Set()));
      keys.add(file.key);
    }
    return bytes;
  }
}
