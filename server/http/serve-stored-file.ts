import type { Request, Response } from 'express';
import contentDisposition from 'content-disposition';
import rangeParser from 'range-parser';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, StorageDriver } from '../storage/storage.js';
import { NotFound } from '../errors.js';
import { IMAGE_RESPONSE_HEADERS } from './middleware/security-headers.middleware.js';

export type StoredFile = {
  key: string;
  mime: string;
  size: number;
  sha256: string;
  lastModified: Date;
  filename: string;
  /** A year of immutable caching for public variants (see cacheControlFor); never stored for staff views. */
  cacheControl: string;
};

/**
 * The headers every answer for a stored variant carries, its 304 included: the one place they are spelled (the
 * image front sends them from memory, serveStoredFile through Express).
 */
export function storedFileHeaders(file: StoredFile): { etag: string; lastModified: string; headers: Record<string, string> } {
  const etag = `"${file.sha256.slice(0, 32)}"`;
  const lastModified = file.lastModified.toUTCString();
  return {
    etag,
    lastModified,
    headers: {
      ...IMAGE_RESPONSE_HEADERS,
      'Content-Type': file.mime,
      'Cache-Control': file.cacheControl,
      ETag: etag,
      'Last-Modified': lastModified,
      'Accept-Ranges': 'bytes',
      'Content-Disposition': contentDisposition(file.filename, { type: 'inline' }),
    },
  };
}

/** Small variants' bytes held in memory (http/serving/bytes-cache.ts); without it every response streams from storage. */
export type HeldBytes = {
  /** The bytes if they are held now. HEAD asks only this: it never reads storage. */
  peek(file: StoredFile): Buffer | undefined;
  /** The bytes if held, or read now when they are worth holding; undefined: stream them from storage. */
  read(file: StoredFile, storage: StorageDriver): Promise<Buffer | undefined>;
};

/**
 * PROXY_OFFLOAD: the proxy in front sends the bytes. Pixbin answers with its headers, an empty body and this header
 * naming the file (an internal URI for nginx's X-Accel-Redirect, an absolute path for X-Sendfile).
 */
export type Offload = { header: 'X-Accel-Redirect' | 'X-Sendfile'; target: (key: string) => string };

export type ServeOptions = {
  held?: HeldBytes;
  /** Set: the proxy sends the bytes (and answers ranges and HEAD itself); `held` is not used. */
  offload?: Offload;
};

/** Storage reads that find no object answer 404 like a missing image, before any byte is promised. */
async function orNotFound<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound();
    throw err;
  }
}

/** Picks the one range to send, or null for the whole file. Malformed and multi-range requests get the whole file. */
function chooseRange(req: Request, size: number, etag: string): ByteRange | null | 'unsatisfiable' {
  const header = req.headers.range;
  if (!header) return null;
  const ifRange = req.headers['if-range'];
  if (ifRange && ifRange !== etag) return null; // the client's copy is stale: send it all
  const parsed = rangeParser(size, header, { combine: true });
  if (parsed === -1) return 'unsatisfiable';
  if (parsed === -2 || parsed.type !== 'bytes' || parsed.length !== 1) return null;
  return { start: parsed[0]!.start, end: parsed[0]!.end };
}

/**
 * Sends a stored, immutable variant with ETag/304 (before storage is touched), HEAD, and single byte ranges
 * (206/416). Bytes come from memory when `held` has them, else they are streamed from storage. A row whose bytes
 * are missing is answered as 404, never as a broken 200 (nor, when offloaded, as the proxy's own 404 page).
 */
export async function serveStoredFile(req: Request, res: Response, storage: StorageDriver, file: StoredFile, options: ServeOptions = {}): Promise<void> {
  const { held, offload } = options;
  const { etag, headers } = storedFileHeaders(file);
  res.set(headers);
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  if (offload) {
    // The proxy serves whatever file it finds: a row whose bytes are gone must still be Pixbin's 404.
    if (!(await storage.exists(file.key))) throw new NotFound();
    // Ranges are the proxy's to answer and announce: nginx would send a copy of ours next to its own.
    res.removeHeader('Accept-Ranges');
    res.set(offload.header, offload.target(file.key)).end();
    return;
  }
  const range = chooseRange(req, file.size, etag);
  if (range === 'unsatisfiable') {
    res.status(416).set({ 'Content-Range': `bytes */${file.size}`, 'Cache-Control': 'no-store' }).type('text/plain').end();
    return;
  }
  const length = range ? range.end - range.start + 1 : file.size;
  if (range) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
  res.set('Content-Length', String(length));
  if (req.method === 'HEAD') {
    if (!held?.peek(file) && !(await storage.exists(file.key))) throw new NotFound();
    res.end();
    return;
  }
  const bytes = held && (await orNotFound(() => held.read(file, storage)));
  if (bytes) {
    res.end(range ? bytes.subarray(range.start, range.end + 1) : bytes);
    return;
  }
  const body = await orNotFound(() => storage.get(file.key, range ?? undefined));
  try {
    await pipeline(body, res);
  } catch (err) {
    // A client that hangs up mid-download is normal; anything else goes to the error pipeline.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  }
}
