import type { Logger } from 'pino';

/**
 * A failure that hits every request the same way until someone fixes it (the database is down, the disk is full)
 * is logged once, not once per request: the first failure logs one error line, later ones are counted, with a
 * summary at most every summaryEveryMs while it lasts; when the probe says it is over (checked every probeEveryMs
 * while it lasts) one line says how long it lasted and how many requests failed. Without a probe it is over after
 * summaryEveryMs with no failure. One instance per (logger, kind of failure): see forLogger.
 */
export type BurstLog = {
  /** Counts err if classify recognises it (logging it if it is the first of a burst); false for any other error. */
  failed(err: unknown, kind?: 'request' | 'background'): boolean;
  /** How to tell that it is over (resolves true); without one, a burst ends after a quiet summaryEveryMs. */
  probeWith(probe: () => Promise<unknown>): void;
  readonly active: boolean;
};

export type BurstFacts = { code: string; seconds: number; failedRequests: number; failedBackground: number };

export type BurstLogSpec = {
  /** A short code for the failure (never a message that could hold data), or null when err is not one. */
  classify: (err: unknown) => string | null;
  /** Extra fields of every line, e.g. { storage: 'full' }; `over` is true on the closing line. */
  fields: (over: boolean) => Record<string, unknown>;
  /** Extra fields of the first line only, taken from the error (a path, say). */
  firstFields?: (err: unknown) => Record<string, unknown>;
  first: string;
  still: (facts: BurstFacts) => string;
  over: (facts: BurstFacts) => string;
  quiet: (facts: BurstFacts, quietMs: number) => string;
};

export type BurstLogOptions = { now?: () => number; probeEveryMs?: number; summaryEveryMs?: number };

const PROBE_EVERY_MS = 1000;
const SUMMARY_EVERY_MS = 30_000;

type Burst = { startedAt: number; code: string; requests: number; background: number; lastFailureAt: number; lastLineAt: number };

export const seconds = (ms: number): number => Math.round(ms / 100) / 10;
export const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export function createBurstLog(logger: Logger, spec: BurstLogSpec, options: BurstLogOptions = {}): BurstLog {
  const now = options.now ?? Date.now;
  const probeEveryMs = options.probeEveryMs ?? PROBE_EVERY_MS;
  const summaryEveryMs = options.summaryEveryMs ?? SUMMARY_EVERY_MS;
  let probe: (() => Promise<unknown>) | null = null;
  let burst: Burst | null = null;

  const facts = (b: Burst): BurstFacts => ({ code: b.code, seconds: seconds(now() - b.startedAt), failedRequests: b.requests, failedBackground: b.background });

  // One check at a time, each after the last has settled.
  const watch = (b: Burst) => {
    const timer = setTimeout(async () => {
      if (burst !== b) return;
      if (probe) {
        const over = await probe().then(
          (answer) => answer !== false,
          () => false,
        );
        if (burst !== b) return;
        if (over) {
          burst = null;
          logger.info({ ...spec.fields(true), ...facts(b) }, spec.over(facts(b)));
          return;
        }
      } else if (now() - b.lastFailureAt >= summaryEveryMs) {
        burst = null;
        logger.info({ ...spec.fields(true), ...facts(b) }, spec.quiet(facts(b), summaryEveryMs));
        return;
      }
      watch(b);
    }, probeEveryMs);
    timer.unref();
  };

  return {
    failed(err, kind = 'request') {
      const code = spec.classify(err);
      if (code === null) return false;
      const at = now();
      const b: Burst = burst ?? { startedAt: at, code, requests: 0, background: 0, lastFailureAt: at, lastLineAt: at };
      if (kind === 'request') b.requests += 1;
      else b.background += 1;
      b.lastFailureAt = at;
      if (!burst) {
        burst = b;
        logger.error({ ...spec.fields(false), ...facts(b), ...spec.firstFields?.(err) }, spec.first);
        watch(b);
      } else if (at - b.lastLineAt >= summaryEveryMs) {
        b.lastLineAt = at;
        logger.warn({ ...spec.fields(false), ...facts(b) }, spec.still(facts(b)));
      }
      return true;
    },
    probeWith(next) {
      probe = next;
    },
    get active() {
      return burst !== null;
    },
  };
}

/** One burst log per pino logger and spec, created on first use, so every error handler shares it without wiring. */
export function burstLogFor(spec: BurstLogSpec, defaults: () => BurstLogOptions & { probe?: () => Promise<unknown> } = () => ({})): (logger: Logger) => BurstLog {
  const logs = new WeakMap<Logger, BurstLog>();
  return (logger) => {
    let log = logs.get(logger);
    if (!log) {
      const { probe, ...options } = defaults();
      log = createBurstLog(logger, spec, options);
      if (probe) log.probeWith(probe);
      logs.set(logger, log);
    }
    return log;
  };
}
