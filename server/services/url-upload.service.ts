import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { humanBytes } from '../lib/format.js';
import { randomBase62 } from '../lib/ids.js';
import { ensureProcessTempDir, trackCleanup } from '../lib/temp-area.js';
import { OutboundFailed, OutboundRefused, type FetchResult, type Outbound } from '../outbound/outbound.js';
import { AppError, BadRequest, InsufficientStorage, PayloadTooLarge, ServiceUnavailable, Unprocessable } from '../errors.js';
import { isStorageFull } from '../lib/storage-full.js';
import { uploadImage, type UploadDeps, type UploadInput, type UploadResult } from './upload.service.js';
import { userHttpUrl } from '../lib/urls.js';

/**
 * Upload by URL: the bytes come through the guarded outbound module (every hop's address checked, at most
 * MAX_URL_REDIRECTS redirects, the upload size limit enforced from Content-Length and while streaming) into a temp
 * file in the process's temp folder, then go through the same pipeline as a file: the type comes from the bytes,
 * never from the remote Content-Type. The temp file is removed on every path. The link is stored with the image only
 * when the uploader asks (keepSource), and never with a user:password part (such links are refused).
 */
export const MAX_URL_REDIRECTS = 3;
export const MAX_URL_LENGTH = 2048;
/** The whole fetch (every hop and the body); a remote that stops sending for idleTimeoutMs is cut off sooner. */
export const URL_FETCH_TOTAL_TIMEOUT_MS = 60_000;

export const messages = {
  busy: 'Too many links are being fetched right now. Try again in a few seconds.',
  badUrl: 'Paste a full link starting with http:// or https://.',
  tooLong: `That link is longer than ${MAX_URL_LENGTH} characters.`,
  userinfo: 'Links with a user name or password in them (user:password@…) are not fetched. Remove that part and try again.',
  notAllowed:
    'That link leads to a private or local address, which this server does not fetch from. The site operator can allow such addresses with OUTBOUND_ALLOW.',
  notAllowedForGuests: 'That link leads to a private or local address. Links uploaded without an account must lead to a public address.',
  redirects: `That link redirected more than ${MAX_URL_REDIRECTS} times, or to a place that cannot be followed.`,
  remoteStatus: (status: number) => `The server behind that link answered HTTP ${status} instead of an image.`,
  unreachable: 'The server behind that link could not be reached.',
  dns: 'The host name in that link could not be found.',
  timeout: 'The server behind that link took too long to send the image.',
  tooLarge: (limit: number) => `The image at that link is larger than the ${humanBytes(limit)} limit.`,
  aborted: 'The upload was cancelled.',
};

export type UrlUploadDeps = {
  upload: UploadDeps;
  outbound: Pick<Outbound, 'fetchStream'>;
  /** The temp root multer also writes to (lib/temp-area.ts). */
  tempDir: string;
  /** MAX_UPLOAD_BYTES: the same limit as a file. */
  maxBytes: number;
  /** UPLOAD_IDLE_TIMEOUT_MS: a remote that sends nothing for this long is cut off, like a stalled uploader. */
  idleTimeoutMs: number;
  totalTimeoutMs?: number;
  /** The uploader is a guest: `outbound` is then the guests' one (public addresses only), and the refusal says so. */
  guests?: boolean;
};

/** The deps from the composition root's pieces: the same size limit and idle timeout as a file upload. */
export function urlUploadDeps(deps: {
  upload: UploadDeps;
  outbound: Pick<Outbound, 'fetchStream'>;
  tempDir: string;
  config: { maxUploadBytes: number; uploadIdleTimeoutMs: number };
  guests?: boolean;
}): UrlUploadDeps {
  return {
    upload: deps.upload,
    outbound: deps.outbound,
    tempDir: deps.tempDir,
    maxBytes: deps.config.maxUploadBytes,
    idleTimeoutMs: deps.config.uploadIdleTimeoutMs,
    ...(deps.guests ? { guests: true } : {}),
  };
}

export type UrlUploadInput = Omit<UploadInput, 'tempPath' | 'originalName' | 'sourceUrl'> & {
  url: string;
  /** The uploader ticked "Keep the link to where it came from". */
  keepSource: boolean;
  /** Aborted when the client goes away: the fetch stops and the temp file is removed. */
  signal?: AbortSignal;
};

/** The link as it will be fetched (and kept, if asked): http(s) only, no credentials, no fragment. */
export function parseUploadUrl(raw: string): URL {
  const text = raw.trim();
  if (text.length > MAX_URL_LENGTH) throw new BadRequest(messages.tooLong, 'bad_url', 'url');
  const url = userHttpUrl(text);
  if (url === 'malformed') throw new BadRequest(messages.badUrl, 'bad_url', 'url');
  if (url === 'userinfo') throw new BadRequest(messages.userinfo, 'bad_url', 'url');
  url.hash = '';
  return url;
}

/** A display name from the link's last path segment, when it looks like an image file name; otherwise none. */
export function nameFromUrl(url: URL): string | undefined {
  let last: string;
  try {
    last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  } catch {
    return undefined;
  }
  return /\.(jpe?g|png|gif|webp|avif)$/i.test(last) ? last : undefined;
}

/** The outbound module's refusals and failures as errors that tell the uploader what happened to their link. */
function translate(err: unknown, deps: Pick<UrlUploadDeps, 'maxBytes' | 'guests'>): unknown {
  if (err instanceof OutboundRefused) {
    switch (err.reason) {
      case 'scheme':
        return new BadRequest(messages.badUrl, 'bad_url', 'url');
      case 'address':
        return new Unprocessable(deps.guests ? messages.notAllowedForGuests : messages.notAllowed, 'url_not_allowed');
      case 'redirect':
        return new Unprocessable(messages.redirects, 'url_redirect_refused');
      case 'too_large':
        return new PayloadTooLarge(messages.tooLarge(deps.maxBytes), 'file_too_large');
      case 'timeout':
        return new Unprocessable(messages.timeout, 'url_timeout');
      case 'dns':
        return new Unprocessable(messages.dns, 'url_fetch_failed');
      case 'busy':
        return new ServiceUnavailable(messages.busy, 'url_fetch_busy', 10);
    }
  }
  if (err instanceof OutboundFailed) return new Unprocessable(messages.unreachable, 'url_fetch_failed');
  // Writing the temp file hit a full disk (ENOSPC, EDQUOT): not the link's fault, the same 507 as a file upload.
  if (isStorageFull(err) && !(err instanceof InsufficientStorage)) return new InsufficientStorage(undefined, undefined, undefined, { cause: err });
  return err;
}

class Aborted extends AppError {
  constructor() {
    super('bad_request', 'aborted', messages.aborted);
  }
}

/** Waits for the response head, giving up when the remote is idle too long or the client leaves. */
function headWithin(fetching: Promise<FetchResult>, idleTimeoutMs: number, signal: AbortSignal | undefined): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    // A head that arrives after we gave up is closed at once: the module's own deadline bounds the wait.
    const giveUp = (err: Error) =>
      settle(() => {
        fetching.then((late) => late.body.destroy(), () => undefined);
        reject(err);
      });
    const timer = setTimeout(() => giveUp(new OutboundRefused('timeout', `no answer within ${idleTimeoutMs} ms`)), idleTimeoutMs);
    const onAbort = () => giveUp(new Aborted());
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    fetching.then(
      (result) => settle(() => resolve(result)),
      (err: unknown) => settle(() => reject(err)),
    );
  });
}

/** Passes the bytes through, failing with a timeout when none arrive for idleTimeoutMs. */
function idleGuard(idleTimeoutMs: number): Transform {
  let timer: NodeJS.Timeout | undefined;
  const guard: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      arm();
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      clearTimeout(timer);
      cb();
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => guard.destroy(new OutboundRefused('timeout', `idle ${idleTimeoutMs} ms`)), idleTimeoutMs);
  };
  arm();
  return guard;
}

/** Fetches the link into a new temp file and returns its path; on any failure nothing is left behind. */
async function fetchToTemp(deps: UrlUploadDeps, url: URL, signal: AbortSignal | undefined): Promise<string> {
  const file = path.join(await ensureProcessTempDir(deps.tempDir), `${randomBase62(20)}.upload`);
  let body: Readable | undefined;
  try {
    const fetching = deps.outbound.fetchStream(url.href, {
      maxRedirects: MAX_URL_REDIRECTS,
      maxBytes: deps.maxBytes,
      totalTimeoutMs: deps.totalTimeoutMs ?? URL_FETCH_TOTAL_TIMEOUT_MS,
      headers: { accept: 'image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.5' },
    });
    const result = await headWithin(fetching, deps.idleTimeoutMs, signal);
    body = result.body;
    if (result.status < 200 || result.status > 299) throw new Unprocessable(messages.remoteStatus(result.status), 'url_fetch_failed');
    await pipeline(result.body, idleGuard(deps.idleTimeoutMs), createWriteStream(file, { flags: 'wx' }), signal ? { signal } : {});
    return file;
  } catch (err) {
    body?.destroy();
    await removeTemp(file);
    if (signal?.aborted) throw new Aborted();
    throw translate(err, deps);
  }
}

function removeTemp(file: string): Promise<void> {
  const removal = fs.rm(file, { force: true });
  trackCleanup(removal); // a graceful shutdown waits for it
  return removal;
}

/** Upload by URL: the gate (admitUpload), the bot check and CSRF are the caller's, before this is called. */
export async function uploadFromUrl(deps: UrlUploadDeps, input: UrlUploadInput): Promise<UploadResult> {
  const { url: raw, keepSource, signal, ...rest } = input;
  const url = parseUploadUrl(raw);
  const tempPath = await fetchToTemp(deps, url, signal);
  try {
    return await uploadImage(deps.upload, { ...rest, tempPath, originalName: nameFromUrl(url), sourceUrl: keepSource ? url.href : null });
  } finally {
    await removeTemp(tempPath);
  }
}
