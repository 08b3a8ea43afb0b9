import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsExposition } from './metrics.js';

/**
 * WEB_CONCURRENCY > 1: a scrape reaches one worker (the kernel hands the connection to any of them), but must count
 * the whole instance. Each worker lends its registry to prom-client's cluster protocol; a worker asked for /metrics
 * asks the primary, which collects every worker's numbers (AggregatorRegistry.clusterMetrics: counters and
 * histograms summed, gauges per their aggregator) and answers with the one text.
 */

const REQUEST = 'pixbin:metrics-request';
const ANSWER = 'pixbin:metrics-answer';
/** prom-client gives up on a worker after 5 s; the asking worker waits a little longer for the primary's answer. */
const ANSWER_TIMEOUT_MS = 6_000;

type Answer = { type: typeof ANSWER; id: number; text?: string; error?: string };

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

/** In the primary: answers each worker's request with every worker's metrics, aggregated. */
export function answerClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    const request = message as { type?: unknown; id?: unknown } | null;
    if (request?.type !== REQUEST || typeof request.id !== 'number') return;
    const id = request.id;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: ANSWER, id, text } satisfies Answer),
      (err: Error) => worker.isConnected() && worker.send({ type: ANSWER, id, error: err.message } satisfies Answer),
    );
  });
}
