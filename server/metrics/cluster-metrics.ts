import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsExposition } from './metrics.js';

/**
 * WEB_CONCURRENCY > 1: a scrape reaches one worker (the kernel hands the connection to any of them), but must count
 * the whole instance. Each worker lends its registry to prom-client's cluster protocol (it answers the primary's
 * `prom-client:getMetricsReq` with its metrics as JSON); a worker asked for /metrics asks the primary, which collects
 * from every worker that is listening (one still starting, or being replaced, is not asked: it has served nothing)
 * and aggregates them (AggregatorRegistry.aggregate: counters and histograms summed, gauges per their aggregator).
 * A listening worker that does not answer in time fails the scrape rather than hiding its share: a partial sum would
 * look to Prometheus like a counter reset followed by a jump.
 */

const REQUEST = 'pixbin:metrics-request';
const ANSWER = 'pixbin:metrics-answer';
/** prom-client's own worker protocol (lib/cluster.js). */
const WORKER_REQUEST = 'prom-client:getMetricsReq';
const WORKER_ANSWER = 'prom-client:getMetricsRes';
/** How long the primary waits for the workers; the asking worker waits a little longer for the primary. */
const COLLECT_TIMEOUT_MS = 3_000;
const ANSWER_TIMEOUT_MS = 4_000;

type Answer = { type: typeof ANSWER; id: number; text?: string; error?: string };
type MetricsJson = Parameters<typeof AggregatorRegistry.aggregate>[0][number];

/** In a worker: answers the primary's collection requests with this registry, and asks the primary for the whole. */
export function clusterExposition(registry: Registry): MetricsExposition {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's worker-side listener for the primary's collection requests.
  new AggregatorRegistry();
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    const answer = message as Answer | null;
    if (answer?.type !== ANSWER) return;
    const waiting = pending.get(answer.id);
    if (!waiting) return;
    pending.delete(answer.id);
    clearTimeout(waiting.timer);
    if (typeof answer.text === 'string') waiting.resolve(answer.text);
    else waiting.reject(new Error(`the cluster's metrics could not be collected: ${answer.error ?? 'no answer'}`));
  });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the cluster primary did not answer for the metrics in time'));
        }, ANSWER_TIMEOUT_MS);
        timer.unref();
        pending.set(id, { resolve, reject, timer });
        process.send!({ type: REQUEST, id });
      }),
  };
}

/** In the primary: answers each worker's request with the metrics of every listening worker, aggregated. */
export function answerClusterMetrics(): void {
  const listening = new Set<number>();
  cluster.on('listening', (worker) => listening.add(worker.id));
  const collections = new Map<number, { waiting: Set<number>; responses: MetricsJson[]; finish: (err?: Error) => void }>();
  cluster.on('exit', (worker) => {
    listening.delete(worker.id);
    // Its numbers went with it (as on any restart): the scrapes waiting for it go on without it, not after the timeout.
    for (const collection of [...collections.values()]) {
      if (collection.waiting.delete(worker.id) && collection.waiting.size === 0) collection.finish();
    }
  });
  let nextId = 0;

  const collect = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const requestId = nextId++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected() && listening.has(w.id));
      const collection = {
        waiting: new Set(workers.map((w) => w.id)),
        responses: [] as MetricsJson[],
        finish: (err?: Error) => {
          if (!collections.delete(requestId)) return;
          clearTimeout(timer);
          if (err) return reject(err);
          AggregatorRegistry.aggregate(collection.responses).metrics().then(resolve, reject);
        },
      };
      const timer = setTimeout(() => collection.finish(new Error(`${collection.waiting.size} worker(s) did not answer within ${COLLECT_TIMEOUT_MS} ms`)), COLLECT_TIMEOUT_MS);
      collections.set(requestId, collection);
      for (const worker of workers) worker.send({ type: WORKER_REQUEST, requestId });
      if (workers.length === 0) collection.finish();
    });

  cluster.on('message', (worker, message: unknown) => {
    const m = message as { type?: unknown; id?: unknown; requestId?: unknown; metrics?: unknown; error?: unknown } | null;
    if (m?.type === WORKER_ANSWER && typeof m.requestId === 'number') {
      const collection = collections.get(m.requestId);
      if (!collection || !collection.waiting.delete(worker.id)) return;
      if (typeof m.error === 'string') return collection.finish(new Error(m.error));
      if (Array.isArray(m.metrics)) collection.responses.push(...(m.metrics as MetricsJson[]));
      if (collection.waiting.size === 0) collection.finish();
      return;
    }
    if (m?.type !== REQUEST || typeof m.id !== 'number') return;
    const id = m.id;
    collect().then(
      (text) => worker.isConnected() && worker.send({ type: ANSWER, id, text } satisfies Answer),
      (err: Error) => worker.isConnected() && worker.send({ type: ANSWER, id, error: err.message } satisfies Answer),
    );
  });
}
