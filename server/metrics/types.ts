/**
 * What the app reports to Prometheus, as a plain interface: services, jobs and the serving code take it through
 * their deps and never import prom-client. With metrics off (no METRICS_TOKEN, no METRICS_LISTEN) they get
 * NO_METRICS, whose methods do nothing.
 *
 * Every label value is one of a small fixed set, or a route pattern, or a job name: never an id, a path, an IP
 * address or a user.
 */
export type UploadResult = 'created' | 'refused' | 'failed';
export type ServedVariant = 'original' | 'thumbnail' | 'display';
export type CacheName = 'rows' | 'bytes';
export type JobOutcome = 'success' | 'failure' | 'skipped';
export type WebhookOutcome = 'delivered' | 'retrying' | 'failed';
export type BackendErrorKind = 'storage_unavailable' | 'storage_full' | 'database_unavailable';

export type Metrics = {
  readonly enabled: boolean;
  /** One answered HTTP request: route is a route pattern ('/i/:id.:ext') or '(unmatched)'. */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /** One upload through the pipeline, and how it ended. */
  uploadFinished(result: UploadResult): void;
  /** The time one image took to validate, re-encode and hash (processImage). */
  imageProcessed(seconds: number): void;
  bytesServed(variant: ServedVariant, bytes: number): void;
  cacheLookup(cache: CacheName, hit: boolean): void;
  /** seconds: null for a run that was skipped (another run held the job or its slot). */
  jobRun(job: string, outcome: JobOutcome, seconds: number | null): void;
  webhookDelivery(outcome: WebhookOutcome): void;
  backendError(kind: BackendErrorKind): void;
};

const nothing = () => undefined;

export const NO_METRICS: Metrics = Object.freeze({
  enabled: false,
  httpRequest: nothing,
  uploadFinished: nothing,
  imageProcessed: nothing,
  bytesServed: nothing,
  cacheLookup: nothing,
  jobRun: nothing,
  webhookDelivery: nothing,
  backendError: nothing,
});

/** Seconds since a process.hrtime.bigint() reading. */
export const secondsSince = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e9;
