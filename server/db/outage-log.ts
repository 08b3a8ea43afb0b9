import type { Logger } from 'pino';
import { burstLogFor, createBurstLog, plural, seconds, type BurstFacts, type BurstLog, type BurstLogOptions, type BurstLogSpec } from '../lib/burst-log.js';
import { databaseErrorCode, isDatabaseUnavailable } from './unavailable.js';

/**
 * Logs a database outage once, not once per request: during an outage every request fails the same way, and a
 * stack per request buried the log (2,676 lines in 10 s). The first failure logs one error line with the driver's
 * code; later ones are counted, with a summary at most every 30 s while it lasts; when the database answers again
 * (a probe runs every second while the outage lasts), one line says how long it lasted and how many requests
 * failed. `failed(err)` returns false for any other error, which the caller logs as usual; `background` counts a
 * write no request waits for.
 */
export type DatabaseOutageLog = BurstLog;

const requests = (f: BurstFacts) => plural(f.failedRequests, 'request', 'requests');
const background = (f: BurstFacts) => (f.failedBackground ? ` (and ${plural(f.failedBackground, 'background write', 'background writes')})` : '');

const OUTAGE: BurstLogSpec = {
  classify: (err) => (isDatabaseUnavailable(err) ? databaseErrorCode(err) : null),
  fields: (over) => ({ database: over ? 'answering' : 'unavailable' }),
  first: 'database is not answering: requests get 503 with Retry-After until it is back (further failures are counted, not logged)',
  still: (f) => `database still not answering after ${f.seconds} s: ${requests(f)} failed so far${background(f)}`,
  over: (f) => `database is answering again after ${f.seconds} s, ${requests(f)} failed${background(f)}`,
  quiet: (f, quietMs) => `no database failures for ${seconds(quietMs)} s: ${requests(f)} failed${background(f)}`,
};

export function createDatabaseOutageLog(logger: Logger, options: BurstLogOptions = {}): DatabaseOutageLog {
  return createBurstLog(logger, OUTAGE, options);
}

/** The outage log of this logger (created on first use), shared by the page and API error handlers and background writers. */
export const databaseOutageLog: (logger: Logger) => DatabaseOutageLog = burstLogFor(OUTAGE);
