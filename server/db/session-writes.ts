import type { Knex } from 'knex';

/**
 * A process-wide count of writes to the sessions and users tables that may change who is signed in or what they may
 * see (everything but the last_seen touch and the byte counters). The session lookup cache
 * (services/session-lookup-cache.ts) keeps an answer only while this count has not moved since the lookup began, so
 * a logout, revoke, suspension, password change or account deletion in this process ends every cached session at
 * once. Other processes' writes are bounded by the cache's TTL.
 *
 * A counter rather than listeners: nothing subscribes, so nothing leaks however many apps a process builds (tests).
 */
let generation = 0;

export const sessionWritesGeneration = (): number => generation;

const bump = () => void (generation += 1);

/**
 * Called by a writer after its statement. Inside a transaction it counts again when the outermost transaction has
 * committed or rolled back: a lookup on another connection in between still reads (and could cache) the old rows.
 */
export function sessionRowsChanged(db: Knex | Knex.Transaction): void {
  bump();
  if (!('isTransaction' in db) || !db.isTransaction) return;
  let outer = db as Knex.Transaction;
  while (outer.parentTransaction) outer = outer.parentTransaction;
  outer.executionPromise.then(bump, bump);
}
