import type { Logger } from 'pino';
import { databaseErrorCode, isDatabaseUnavailable } from './unavailable.js';

/**
 * Logs a database outage once, not once per request: during an outage every request fails the same way, and a
 * stack per request buried the log (2,676 lines in 10 s). The first failure logs one error line with the driver's
 * code; later ones are counted, with a summary at most every 30 s while it lasts; when the database answers again
 * (a probe runs every second while the outage lasts), one line says how long it lasted and how many requests failed.
 *
 * One log per pino logger, so the page and API error handlers (and background writers) share it without wiring.
 */
export type DatabaseOutageLog = {
  /**
   * Counts err if it says the database is not answering (and logs it if it is the first of an outage); returns
   * false for any other error, which the caller logs as usual. `background`: a write no request waits for.
   */
  failed(err: unknown, kind?: 'request' | 'background'): boolean;
  /** How to tell that the database answers again (a cheap query); without one, an outage ends after 30 s with no failure. */
  probeWith(probe: () => Promise<unknown>): void;
  readonly active: boolean;
};

export type OutageLogOptions = { now?: () => number; probeEveryMs?: number; summaryEveryMs?: number };

const PROBE_EVERY_MS = 1000;
const SUMMARY_EVERY_MS = 30_000;

type Outage = { startedAt: number; code: string; requests: number; background: number; lastFailureAt: number; lastLineAt: number };

const logs = new WeakMap<Logger, DatabaseOutageLog>();

/** The outage log of this logger (created on first use). */
export function databaseOutageLog(logger: Logger): DatabaseOutageLog {
  let log = logs.get(logger);
  if (!log) {
    log = createDatabaseOutageLog(logger);
    logs.set(logger, log);
  }
  return log;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function createDatabaseOutageLog(logger: Logger, options: OutageLogOptions = {}): DatabaseOutageLog {
  const now = options.now ?? Date.now;
  const probeEveryMs = options.probeEveryMs ?? PROBE_EVERY_MS;
  const summaryEveryMs = options.summaryEveryMs ?? SUMMARY_EVERY_MS;
  let probe: (() => Promise<unknown>) | null = null;
  let outage: Outage | null = null;

  const facts = (o: Outage) => ({ database: 'unavailable', code: o.code, seconds: seconds(now() - o.startedAt), failedRequests: o.requests, failedBackground: o.background });
  const background = (o: Outage) => (o.background ? ` (and ${plural(o.background, 'background write', 'background writes')})` : '');

  // One check at a time, each after the last has settled: a probe may take up to the pool's acquire timeout.
  const watch = (o: Outage) => {
    const timer = setTimeout(async () => {
      if (outage !== o) return;
      if (probe) {
        const answered = await probe().then(
          () => true,
          () => false,
        );
        if (outage !== o) return;
        if (answered) {
          outage = null;
          logger.info({ ...facts(o), database: 'answering' }, `database is answering again after ${seconds(now() - o.startedAt)} s, ${plural(o.requests, 'request', 'requests')} failed${background(o)}`);
          return;
        }
      } else if (now() - o.lastFailureAt >= summaryEveryMs) {
        outage = null;
        logger.info({ ...facts(o), database: 'quiet' }, `no database failures for ${seconds(summaryEveryMs)} s: ${plural(o.requests, 'request', 'requests')} failed${background(o)} in ${seconds(o.lastFailureAt - o.startedAt)} s`);
        return;
      }
      watch(o);
    }, probeEveryMs);
    timer.unref();
  };

  return {
    failed(err, kind = 'request') {
      if (!isDatabaseUnavailable(err)) return false;
      const at = now();
      const o: Outage = outage ?? { startedAt: at, code: databaseErrorCode(err), requests: 0, background: 0, lastFailureAt: at, lastLineAt: at };
      if (kind === 'request') o.requests += 1;
      else o.background += 1;
      o.lastFailureAt = at;
      if (!outage) {
        outage = o;
        logger.error({ ...facts(o) }, 'database is not answering: requests get 503 with Retry-After until it is back (further failures are counted, not logged)');
        watch(o);
      } else if (at - o.lastLineAt >= summaryEveryMs) {
        o.lastLineAt = at;
        logger.warn(facts(o), `database still not answering after ${seconds(at - o.startedAt)} s: ${plural(o.requests, 'request', 'requests')} failed so far${background(o)}`);
      }
      return true;
    },
    probeWith(next) {
      probe = next;
    },
    get active() {
      return outage !== null;
    },
  };
}
