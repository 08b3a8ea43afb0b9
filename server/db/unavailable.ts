/**
 * "The database is not answering", told apart from "this statement is wrong". Such a failure is the same for every
 * request until the database is back, so it answers 503 with Retry-After (http/errors.ts) and is logged once per
 * outage (outage-log.ts), not once per request.
 *
 * What each driver throws when the database is gone (checked against a real server stopped mid-load, see
 * test/unit/database-unavailable.test.ts and test/faults/db-outage.test.ts):
 * - pg connecting to a stopped server: the socket's own error (ECONNREFUSED, ETIMEDOUT, ...), or an AggregateError
 *   of them when a name resolves to several addresses;
 * - pg on a connection the server dropped: "Connection terminated unexpectedly", then "Client has encountered a
 *   connection error and is not queryable" (no code); knex prefixes the statement to the message;
 * - pg while the server starts or stops: SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot
 *   connect now), 53300 (too many connections);
 * - knex when no connection came free in time: KnexTimeoutError "Knex: Timeout acquiring a connection";
 * - better-sqlite3: SQLITE_BUSY (another process held the lock past busy_timeout), SQLITE_IOERR_*, SQLITE_CANTOPEN.
 * SQLITE_FULL is not among them: the database answers, the disk is full (lib/storage-full.ts, 507).
 * A constraint violation, a syntax error or a missing table is none of these: it stays a 500 with its stack logged.
 */

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
const POSTGRES_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
const SQLITE_CODE = /^SQLITE_(BUSY|IOERR|CANTOPEN)(_|$)/;
/** pg's errors without a code, after knex's "<statement> - " prefix. */
const CONNECTION_LOST = [
  { pattern: /timeout expired$|Query read timeout$/, code: 'timeout' },
  { pattern: /Connection terminated|Connection ended unexpectedly|not queryable$/, code: 'connection_lost' },
] as const;

type ErrorLike = { name?: unknown; code?: unknown; message?: unknown; errors?: unknown };

function classify(err: unknown, depth = 0): string | null {
  if (typeof err !== 'object' || err === null || depth > 2) return null;
  const e = err as ErrorLike;
  // An error carrying an HTTP status is about the client's request, never the database: body-parser's "request
  // aborted" (a client hanging up mid-body) is ECONNABORTED with status 400. No driver error has a status.
  if (typeof (e as { status?: unknown }).status === 'number') return null;
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code) || POSTGRES_CODES.has(code) || SQLITE_CODE.test(code) || /^08[0-9A-Z]{3}$/.test(code)) return code;
  if (e.name === 'KnexTimeoutError') return 'pool_timeout';
  const message = typeof e.message === 'string' ? e.message : '';
  for (const { pattern, code: named } of CONNECTION_LOST) if (pattern.test(message)) return named;
  // Happy eyeballs: every address refused; the AggregateError itself may carry no code.
  if (Array.isArray(e.errors) && e.errors.length) {
    const codes = e.errors.map((inner) => classify(inner, depth + 1));
    if (codes.every(Boolean)) return codes[0]!;
  }
  return null;
}

/** Whether err says the database cannot be reached or cannot serve right now (retrying later may succeed). */
export function isDatabaseUnavailable(err: unknown): boolean {
  return classify(err) !== null;
}

/**
 * A short code for the log (ECONNREFUSED, 57P01, SQLITE_BUSY, pool_timeout, connection_lost): never the message,
 * which can hold a statement.
 */
export function databaseErrorCode(err: unknown): string {
  return classify(err) ?? 'unknown';
}

/**
 * knex prints each failed pool acquisition ("Acquire connection error: <stack>") and each dropped connection
 * ("Connection Error: ...") to stdout with console.log: a dozen lines per request during an outage. The failure
 * also reaches the caller, which reports it to the outage log, so these two are dropped; anything else knex has
 * to say goes to stderr as before. For createDb's `log` option.
 */
export const knexLog = {
  warn(message: unknown): void {
    const text = String(message);
    if (text.startsWith('Acquire connection error') || text.startsWith('Connection Error')) return;
    process.stderr.write(`knex: ${text}\n`);
  },
  error(message: unknown): void {
    process.stderr.write(`knex: ${String(message)}\n`);
  },
  deprecate(message: unknown): void {
    process.stderr.write(`knex: ${String(message)}\n`);
  },
  debug(message: unknown): void {
    process.stderr.write(`knex: ${String(message)}\n`);
  },
};
