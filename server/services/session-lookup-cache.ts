import { performance } from 'node:perf_hooks';
import { sessionWritesGeneration } from '../db/session-writes.js';

/** What an access check needs to know about a live session: whose it is, and until when it lives. Nothing else is kept. */
export type SessionViewer = { readonly userId: string; readonly idHash: string; readonly expiresAt: Date };

/** Longest an answer is kept; across replicas (whose writes this process does not hear) it bounds how stale one can be. */
export const SESSION_LOOKUP_TTL_MS = 1000;
const MAX_ENTRIES = 10_000;

type Entry = {
  /** performance.now() when the lookup began. */
  readonly at: number;
  /** sessionWritesGeneration() when the lookup began: the answer holds only while no write has happened since. */
  readonly generation: number;
  readonly answer: Promise<SessionViewer | null>;
};

/**
 * A per-process cache of session lookups for the image fast path, keyed by the session id's hash: a browser fetching
 * the 60 thumbnails of a page of private images costs one lookup, not 60. An answer is kept at most `ttlMs` (1 s),
 * dropped at once when this process writes to the sessions or users tables (logout, revoke, sign-out everywhere,
 * password change, suspension, role change, account deletion or purge, the expiry job: see db/session-writes.ts),
 * and checked against the clock on every hit (a session that expires is gone even within the TTL). Concurrent misses
 * for one session share one lookup. "No session" is not kept: such a request goes on to the full stack anyway.
 */
export class SessionLookupCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = Math.min(options.ttlMs ?? SESSION_LOOKUP_TTL_MS, SESSION_LOOKUP_TTL_MS);
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * The cached answer for this session if it is still good at `clock` (the app's clock, for the session's expiry),
   * else the answer of `lookup`, shared with every caller until it is no longer good.
   */
  async get(idHash: string, clock: Date, lookup: () => Promise<SessionViewer | null>): Promise<SessionViewer | null> {
    const now = this.#now();
    const generation = sessionWritesGeneration();
    const held = this.#entries.get(idHash);
    if (held && held.generation === generation && now - held.at < this.#ttlMs) {
      const viewer = await held.answer;
      if (viewer && viewer.expiresAt.getTime() > clock.getTime()) return viewer;
      // Expired since (the database would not find it either), or a shared lookup that found nothing.
      if (viewer) this.#drop(idHash, held);
      return null;
    }
    return this.#lookup(idHash, now, generation, lookup);
  }

  /** Forgets everything (the write counter does this for writes; this is for callers that know better). */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  async #lookup(idHash: string, now: number, generation: number, lookup: () => Promise<SessionViewer | null>): Promise<SessionViewer | null> {
    if (this.#entries.size >= MAX_ENTRIES) this.#evict(now);
    const entry: Entry = { at: now, generation, answer: lookup() };
    this.#entries.set(idHash, entry);
    try {
      const viewer = await entry.answer;
      // Nothing to keep: no session, or a write happened while it was looked up (it may have read the old rows).
      if (!viewer || sessionWritesGeneration() !== generation) this.#drop(idHash, entry);
      return viewer;
    } catch (err) {
      this.#drop(idHash, entry);
      throw err;
    }
  }

  #drop(idHash: string, entry: Entry): void {
    if (this.#entries.get(idHash) === entry) this.#entries.delete(idHash);
  }

  /** Drops what is past its TTL; if every entry is fresh (a flood of distinct sessions), starts over. */
  #evict(now: number): void {
    for (const [key, entry] of this.#entries) if (now - entry.at >= this.#ttlMs) this.#entries.delete(key);
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
  }
}
