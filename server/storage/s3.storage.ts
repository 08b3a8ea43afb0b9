import type { S3Settings } from '../config/s3-settings.js';
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { randomBase62 } from '../lib/ids.js';
import {
  assertValidKey,
  MissingObject,
  StorageError,
  StorageUnavailable,
  type ByteRange,
  type ListedObject,
  type PutOptions,
  type StorageDriver,
  type StoredObject,
} from './storage.js';


export type { S3Settings };

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const MAX_SOCKETS = 64;
const STREAM_IDLE_FLOOR_MS = 30_000;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** Which variable an operator must fix for an error the store sent back, so the boot message can name it. */
function variableToBlame(err: unknown): string {
  const name = (err as { name?: string }).name ?? '';
  if (name === 'NoSuchBucket' || name === 'NotFound') return 'S3_BUCKET';
  if (name === 'InvalidAccessKeyId') return 'S3_ACCESS_KEY_ID';
  if (name === 'SignatureDoesNotMatch') return 'S3_SECRET_ACCESS_KEY';
  if (name === 'AccessDenied' || name === 'Forbidden') return 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (the key lacks permission on S3_BUCKET)';
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException') return 'S3_REGION';
  return 'S3_ENDPOINT';
}

/**
 * The AWS SDK, loaded on first use: importing it costs about a third of a second at start, which a server on local
 * storage (and every CLI that never touches a bucket) should not pay.
 */
type Sdk = typeof import('@aws-sdk/client-s3') & {
  Upload: typeof import('@aws-sdk/lib-storage').Upload;
  getSignedUrl: typeof import('@aws-sdk/s3-request-presigner').getSignedUrl;
  NodeHttpHandler: typeof import('@smithy/node-http-handler').NodeHttpHandler;
};
let sdkLoading: Promise<Sdk> | null = null;
let loadedSdk: Sdk | null = null;

function loadSdk(): Promise<Sdk> {
  sdkLoading ??= Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/lib-storage'),
    import('@aws-sdk/s3-request-presigner'),
    import('@smithy/node-http-handler'),
  ]).then(([client, storage, presigner, handler]) => {
    loadedSdk = { ...client, Upload: storage.Upload, getSignedUrl: presigner.getSignedUrl, NodeHttpHandler: handler.NodeHttpHandler };
    return loadedSdk;
  });
  return sdkLoading;
}

const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

/** Network failures, timeouts and 5xx answers: the store is unavailable, not the request wrong. */
function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.name === 'RequestTimeout') return true;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500;
  // No HTTP answer at all (the SDK found nothing to parse): the connection failed.
  return !(loadedSdk && err instanceof loadedSdk.S3ServiceException);
}

function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  return [e.name, e.code].filter(Boolean).join('/') || 'error';
}

/**
 * An S3-compatible bucket (AWS, R2, MinIO, B2, Wasabi…). Uploads stream through lib-storage's multipart Upload, so
 * at most about two parts sit in memory; an object appears only when complete. Every call is bounded by timeoutMs.
 */
export class S3Storage implements StorageDriver {
  readonly name = 's3';
  private readonly settings: S3Settings;
  private readonly agents: { http: http.Agent; https: https.Agent };
  #client: S3Client | null = null;
  #destroyed = false;

  constructor(settings: S3Settings) {
    this.settings = settings;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      https: new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
    };
  }

  /** The SDK and this store's client, both made on the first call. */
  private async sdk(): Promise<{ sdk: Sdk; client: S3Client }> {
    const sdk = await loadSdk();
    if (!this.#client) {
      const settings = this.settings;
      this.#client = new sdk.S3Client({
        endpoint: settings.endpoint,
        region: settings.region,
        forcePathStyle: settings.forcePathStyle,
        credentials:
          settings.accessKeyId && settings.secretAccessKey ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } : undefined,
        requestChecksumCalculation: settings.requestChecksum,
        responseChecksumValidation: settings.requestChecksum,
        // One retry for a dropped keep-alive socket; the deadline below still bounds the whole call.
        maxAttempts: 2,
        requestHandler: new sdk.NodeHttpHandler({
          connectionTimeout: settings.timeoutMs,
          // Time to the answer's headers; without throwOnRequestTimeout the SDK would only log a warning.
          requestTimeout: settings.timeoutMs,
          throwOnRequestTimeout: true,
          // Silence on the socket once streaming: a store that stops sending mid-download is cut off. Longer than the
          // call bound, because a slow viewer pauses our reads (backpressure) and that silence is not the store's.
          socketTimeout: Math.max(settings.timeoutMs, STREAM_IDLE_FLOOR_MS),
          httpAgent: this.agents.http,
          httpsAgent: this.agents.https,
        }),
      });
      if (this.#destroyed) this.#client.destroy();
    }
    return { sdk, client: this.#client };
  }

  /** Full object key in the bucket, with the operator's prefix. */
  objectKey(key: string): string {
    assertValidKey(key);
    return `${this.settings.prefix}${key}`;
  }

  /** Sends a command with a deadline covering retries and the wait for the answer's headers. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command's own input and output types are checked by the SDK
  private async send<T>(command: (sdk: Sdk) => any, what: string, key?: string): Promise<T> {
    const { sdk, client } = await this.sdk();
    const input = command(sdk);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    try {
      return (await client.send(input, { abortSignal: controller.signal })) as T;
    } catch (err) {
      throw this.translate(err, what, key);
    } finally {
      clearTimeout(timer);
    }
  }

  private translate(err: unknown, what: string, key?: string): Error {
    if (err instanceof StorageError) return err;
    if (key !== undefined && isMissing(err)) return new MissingObject(`no object at ${JSON.stringify(key)}`);
    if (isUnavailable(err)) return new StorageUnavailable(`S3 ${what} failed: the store is unavailable (${describe(err)})`, { cause: err });
    return new StorageError(`S3 ${what} failed (${describe(err)}); check ${variableToBlame(err)}`, { cause: err });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const objectKey = this.objectKey(key);
    const { sdk, client } = await this.sdk().catch((err: unknown) => {
      body.destroy(); // the caller's stream (often a file) must not stay open after a failed upload
      throw err;
    });
    let size = 0;
    const counted = new PassThrough();
    counted.on('data', (chunk: Buffer) => (size += chunk.length));
    body.on('error', (err) => counted.destroy(err));
    body.pipe(counted);
    // One deadline for the whole store step, retries included: lib-storage sends its commands without an abort
    // signal (its own abort() only stops waiting, leaving the request in flight and the SDK free to retry it after
    // the client has been answered), so every command of this upload carries ours, and the deadline aborts them.
    const deadline = new AbortController();
    const scoped = Object.create(client) as S3Client;
    scoped.send = ((command: object, options?: object) =>
      client.send(command as never, {
        ...options,
        // Aborting a multipart upload is the cleanup after the deadline itself: it gets a bound of its own.
        abortSignal: command instanceof sdk.AbortMultipartUploadCommand ? AbortSignal.timeout(this.settings.timeoutMs) : deadline.signal,
      })) as S3Client['send'];
    const upload = new sdk.Upload({
      client: scoped,
      params: { Bucket: this.settings.bucket, Key: objectKey, Body: counted, ContentType: options.contentType },
      partSize: this.settings.partSizeBytes ?? DEFAULT_PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false, // a failed multipart upload is aborted, so no parts linger and nothing becomes visible
    });
    // A part the store acknowledged resets the deadline: a large upload may take long, but never go for longer than
    // the bound without the store confirming anything. A single-part upload (most images) has the bound once.
    let stalled = false;
    const expire = () => {
      stalled = true;
      deadline.abort();
      void upload.abort();
    };
    let timer = setTimeout(expire, this.settings.timeoutMs);
    upload.on('httpUploadProgress', () => {
      clearTimeout(timer);
      timer = setTimeout(expire, this.settings.timeoutMs);
    });
    try {
      await upload.done();
      return { size };
    } catch (err) {
      body.unpipe(counted);
      counted.destroy();
      body.destroy(); // the caller's stream (often a file) must not stay open after a failed upload
      if (stalled) throw new StorageUnavailable('S3 upload failed: the store stopped answering', { cause: err });
      if ((err as { name?: string }).name === 'AbortError' && body.errored) throw body.errored;
      throw this.translate(err, 'upload');
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const output = await this.send<{ Body?: unknown }>(
      (sdk) =>
        new sdk.GetObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.objectKey(key),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      'download',
      key,
    );
    if (!(output.Body instanceof Readable)) throw new StorageError('S3 download returned no stream');
    return output.Body;
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const head = await this.send<{ ContentLength?: number; LastModified?: Date }>(
        (sdk) => new sdk.HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(key) }),
        'stat',
        key,
      );
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (err instanceof MissingObject) return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.send((sdk) => new sdk.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(key) }), 'delete', key);
    } catch (err) {
      if (!(err instanceof MissingObject)) throw err; // S3 answers 204 for a missing key; some lookalikes say 404
    }
  }

  async move(from: string, to: string): Promise<boolean> {
    try {
      await this.send(
        (sdk) =>
          new sdk.CopyObjectCommand({
            Bucket: this.settings.bucket,
            Key: this.objectKey(to),
            // The copy source is "bucket/key", URL-encoded; our keys hold only [A-Za-z0-9._/-], which need none.
            CopySource: `${this.settings.bucket}/${this.objectKey(from)}`,
          }),
        'copy',
        from,
      );
    } catch (err) {
      if (err instanceof MissingObject) return this.exists(to);
      throw err;
    }
    await this.delete(from);
    return true;
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.send<{ Contents?: Array<{ Key?: string; Size?: number; LastModified?: Date }>; NextContinuationToken?: string; IsTruncated?: boolean }>(
        (sdk) => new sdk.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${this.settings.prefix}${prefix}`, ContinuationToken: token }),
        'list',
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        yield { key: item.Key.slice(this.settings.prefix.length), size: item.Size ?? 0, modifiedAt: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A URL that lets its holder read one object for `seconds`, signed by our credentials. */
  async presignedUrl(key: string, seconds: number, responseHeaders: { contentType?: string; contentDisposition?: string } = {}): Promise<string> {
    const { sdk, client } = await this.sdk();
    return sdk.getSignedUrl(
      client,
      new sdk.GetObjectCommand({
        Bucket: this.settings.bucket,
        Key: this.objectKey(key),
        ResponseContentType: responseHeaders.contentType,
        ResponseContentDisposition: responseHeaders.contentDisposition,
      }),
      { expiresIn: seconds },
    );
  }

  async check(): Promise<void> {
    const probe = `.probe/${randomBase62(12)}`;
    try {
      // A listing, not HeadBucket: a HEAD answer has no body, so S3 could not say which setting is wrong.
      // Under the probe folder, which is normally empty: cheap on a bucket of any size.
      await this.send((sdk) => new sdk.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${this.settings.prefix}.probe/`, MaxKeys: 10 }), 'bucket check');
      await this.send((sdk) => new sdk.PutObjectCommand({ Bucket: this.settings.bucket, Key: `${this.settings.prefix}${probe}`, Body: 'pixbin' }), 'probe write');
      const read = await this.send<{ Body?: { transformToString: () => Promise<string> } }>(
        (sdk) => new sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: `${this.settings.prefix}${probe}` }),
        'probe read',
      );
      if ((await read.Body?.transformToString()) !== 'pixbin') throw new StorageError('S3 probe read back different bytes; check S3_ENDPOINT');
      await this.send((sdk) => new sdk.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: `${this.settings.prefix}${probe}` }), 'probe delete');
    } catch (err) {
      const cause = (err as Error).cause ?? err;
      const blame = err instanceof StorageUnavailable ? 'S3_ENDPOINT' : variableToBlame(cause);
      const where = this.settings.endpoint ?? 'AWS';
      throw new StorageError(
        `${blame}: bucket "${this.settings.bucket}" at ${where} is not readable and writable (${(err as Error).message})`,
        { cause },
      );
    }
  }

  /** Closes pooled sockets, so a stopping process leaves none open. */
  destroy(): void {
    this.#destroyed = true;
    this.#client?.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
