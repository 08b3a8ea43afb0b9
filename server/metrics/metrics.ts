import cluster from 'node:cluster';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { clusterExposition } from './cluster-metrics.js';
import { NO_METRICS, type BackendErrorKind, type CacheName, type JobOutcome, type Metrics, type ServedVariant, type UploadResult, type WebhookOutcome } from './types.js';

export { NO_METRICS, secondsSince, type Metrics } from './types.js';

/** Methods outside this set are counted as 'other': a client must not be able to mint label values. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** From a cached thumbnail (well under a millisecond) to a slow upload over a phone line. */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const PROCESSING_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const JOB_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600];

const statusClass = (status: number): string => STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';

/** The Prometheus side: the text a scrape gets, and its content type. */
export type MetricsExposition = { text(): Promise<string>; readonly contentType: string };

/**
 * One registry per app (never prom-client's global one: tests build many apps in one process), with the default
 * process metrics and Pixbin's own. Every series that can be known up front is created at 0, so dashboards and
 * alerts see it before the first event.
 */
/** Label sets kept bound (method × route × status): the routes are a fixed set, so this is a ceiling, not an LRU. */
const MAX_HTTP_CHILDREN = 2000;

export function createMetrics(options: { prefix?: string } = {}): Metrics & MetricsExposition & { registry: Registry } {
  const prefix = options.prefix ?? 'pixbin_';
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  const registers = [registry];

  const http = new Histogram({
    name: `${prefix}http_request_duration_seconds`,
    help: 'HTTP requests answered, by method, route pattern and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: HTTP_BUCKETS,
    registers,
  });
  const uploads = new Counter({ name: `${prefix}uploads_total`, help: 'Uploads through the image pipeline, by result (created, refused, failed)', labelNames: ['result'] as const, registers });
  const processing = new Histogram({ name: `${prefix}image_processing_seconds`, help: 'Time to validate, re-encode and hash one uploaded image', buckets: PROCESSING_BUCKETS, registers });
  const bytes = new Counter({ name: `${prefix}served_bytes_total`, help: 'Image bytes sent, by variant (HEAD and 304 answers send none)', labelNames: ['variant'] as const, registers });
  const cache = new Counter({ name: `${prefix}cache_lookups_total`, help: 'Serving cache lookups, by cache (rows, bytes) and result (hit, miss)', labelNames: ['cache', 'result'] as const, registers });
  const jobRuns = new Counter({ name: `${prefix}job_runs_total`, help: 'Scheduled job runs, by job and outcome (success, failure, skipped)', labelNames: ['job', 'outcome'] as const, registers });
  const jobSeconds = new Histogram({ name: `${prefix}job_duration_seconds`, help: 'Scheduled job run time, by job and outcome', labelNames: ['job', 'outcome'] as const, buckets: JOB_BUCKETS, registers });
  const webhooks = new Counter({ name: `${prefix}webhook_deliveries_total`, help: 'Webhook delivery attempts, by outcome', labelNames: ['outcome'] as const, registers });
  const backend = new Counter({
    name: `${prefix}backend_errors_total`,
    help: 'Requests that failed on storage or the database, by kind (storage_unavailable, storage_full, database_unavailable)',
    labelNames: ['kind'] as const,
    registers,
  });

  for (const result of ['created', 'refused', 'failed'] satisfies UploadResult[]) uploads.inc({ result }, 0);
  for (const variant of ['original', 'thumbnail', 'display'] satisfies ServedVariant[]) bytes.inc({ variant }, 0);
  for (const name of ['rows', 'bytes'] satisfies CacheName[]) for (const result of ['hit', 'miss']) cache.inc({ cache: name, result }, 0);
  const bytesChildren = { original: bytes.labels({ variant: 'original' }), thumbnail: bytes.labels({ variant: 'thumbnail' }), display: bytes.labels({ variant: 'display' }) };
  const cacheChild = (name: CacheName) => ({ hit: cache.labels({ cache: name, result: 'hit' }), miss: cache.labels({ cache: name, result: 'miss' }) });
  const cacheChildren = { rows: cacheChild('rows'), bytes: cacheChild('bytes') };
  const httpChildren = new Map<string, ReturnType<typeof http.labels>>();
  for (const outcome of ['delivered', 'retrying', 'failed'] satisfies WebhookOutcome[]) webhooks.inc({ outcome }, 0);
  for (const kind of ['storage_unavailable', 'storage_full', 'database_unavailable'] satisfies BackendErrorKind[]) backend.inc({ kind }, 0);

  return {
    enabled: true,
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    httpRequest(method, route, status, seconds) {
      // Bound children kept by label set: the image front observes once per answer, and labels() hashes each call.
      const key = `${method}\u0000${route}\u0000${status}`;
      let child = httpChildren.get(key);
      if (!child) {
        child = http.labels({ method: METHODS.has(method) ? method : 'other', route, status_class: statusClass(status) });
        if (httpChildren.size < MAX_HTTP_CHILDREN) httpChildren.set(key, child);
      }
      child.observe(seconds);
    },
    uploadFinished: (result) => uploads.inc({ result }),
    imageProcessed: (seconds) => processing.observe(seconds),
    bytesServed(variant, count) {
      if (count > 0) bytesChildren[variant].inc(count);
    },
    cacheLookup: (name, hit) => cacheChildren[name][hit ? 'hit' : 'miss'].inc(),
    jobRun(job: string, outcome: JobOutcome, seconds: number | null) {
      jobRuns.inc({ job, outcome });
      if (seconds !== null) jobSeconds.observe({ job, outcome }, seconds);
    },
    webhookDelivery: (outcome) => webhooks.inc({ outcome }),
    backendError: (kind) => backend.inc({ kind }),
  };
}

/** Metrics on when METRICS_TOKEN or METRICS_LISTEN is set (config.metrics); off, the app gets NO_METRICS and no registry. */
export function metricsFor(config: { metrics: unknown }): { metrics: Metrics; exposition: MetricsExposition | null } {
  if (!config.metrics) return { metrics: NO_METRICS, exposition: null };
  const metrics = createMetrics();
  // A cluster worker answers a scrape with the whole cluster's numbers (cluster-metrics.ts), not only its own.
  return { metrics, exposition: cluster.isWorker ? clusterExposition(metrics.registry) : metrics };
}
