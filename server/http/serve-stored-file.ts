import type { Request, Response } from 'express';
import contentDisposition from 'content-disposition';
import rangeParser from 'range-parser';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, StorageDriver } from '../storage/storage.js';
import { NotFound } from '../errors.js';
import { setImageResponseHeaders } from './middleware/security-headers.middleware.js';

export type StoredFile = {
  key: string;
  mime: string;
  size: number;
  sha256: string;
  lastModified: Date;
  filename: string;
  /** Overrides the year of immutable public caching, e.g. for private images. */
  cacheControl?: string;
};

const IMMUTABLE = 'public, max-age=31536000, immutable';

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
 * Sends a stored, immutable variant with ETag/304, HEAD, and single byte ranges (206/416). Bytes are streamed
 * from storage; nothing is buffered. A row whose bytes are missing is answered as 404, never as a broken 200.
 */
export async function serveStoredFile(req: Request, res: Response, storage: StorageDriver, file: StoredFile): Promise<void> {
  const etag = `"${file.sha256.slice(0, 32)}"`;
  setImageResponseHeaders(res);
  res.set({
    'Content-Type': file.mime,
    'Cache-Control': file.cacheControl ?? IMMUTABLE,
    ETag: etag,
    'Last-Modified': file.lastModified.toUTCString(),
    'Accept-Ranges': 'bytes',
    'Content-Disposition': contentDisposition(file.filename, { type: 'inline' }),
  });
  if (req.fresh) {
    res.status(304).end();
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
    if (!(await storage.exists(file.key))) throw new NotFound();
    res.end();
    return;
  }
  let body;
  try {
    body = await storage.get(file.key, range ?? undefined);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound();
    throw err;
  }
  try {
    await pipeline(body, res);
  } catch (err) {
    // A client that hangs up mid-download is normal; anything else goes to the error pipeline.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  }
}
