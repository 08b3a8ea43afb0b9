import { InsufficientStorage } from '../errors.js';
import { burstLogFor, plural } from './burst-log.js';
import { tempRootsShortOfSpace } from './temp-area.js';

/**
 * "The disk is full", wherever it surfaces: fs and multer (ENOSPC, EDQUOT), libvips (no code, only the C library's
 * text "No space left on device" in its message), SQLite (SQLITE_FULL) and our own InsufficientStorage. None of
 * them is the uploader's fault: they answer 507 storage_full (http/errors.ts) and are logged once per burst, with a
 * count, and one line when there is room again.
 */

const CODES = new Set(['ENOSPC', 'EDQUOT']);
const MESSAGE = /No space left on device|Dis[ck] quota exceeded|database or disk is full/i;

/** A short code for the log (ENOSPC, EDQUOT, SQLITE_FULL, libvips, storage_full), or null when err is not "disk full". */
export function storageFullCode(err: unknown, depth = 0): string | null {
  if (typeof err !== 'object' || err === null || depth > 3) return null;
  if (err instanceof InsufficientStorage) return (err.cause ? storageFullCode(err.cause, depth + 1) : null) ?? 'storage_full';
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (CODES.has(code)) return code;
  if (/^SQLITE_FULL/.test(code)) return 'SQLITE_FULL';
  if (typeof e.message === 'string' && MESSAGE.test(e.message)) return code || 'libvips';
  return e.cause ? storageFullCode(e.cause, depth + 1) : null;
}

export function isStorageFull(err: unknown): boolean {
  return storageFullCode(err) !== null;
}

/** Space below which a temp folder counts as still full when the log checks whether the burst is over. */
export const ROOM_AGAIN_BYTES = 16 * 1024 * 1024;

/**
 * The disk-full log of a pino logger (one per logger, shared by the page and API error handlers and /readyz). The
 * burst ends when every temp folder in use has ROOM_AGAIN_BYTES free again.
 */
export const storageFullLog = burstLogFor(
  {
    classify: storageFullCode,
    fields: (over) => ({ storage: over ? 'room again' : 'full' }),
    firstFields: (err) => {
      const where = (err as { path?: unknown; cause?: { path?: unknown } }).path ?? (err as { cause?: { path?: unknown } }).cause?.path;
      return typeof where === 'string' ? { path: where } : {};
    },
    first: 'disk full: uploads get 507 storage_full until the operator frees space in DATA_DIR (further failures are counted, not logged)',
    still: (f) => `disk still full after ${f.seconds} s: ${plural(f.failedRequests, 'request', 'requests')} failed so far`,
    over: (f) => `disk has room again after ${f.seconds} s: ${plural(f.failedRequests, 'request', 'requests')} failed`,
    quiet: (f, quietMs) => `no disk-full failures for ${quietMs / 1000} s: ${plural(f.failedRequests, 'request', 'requests')} failed in ${f.seconds} s`,
  },
  () => ({ probe: async () => (await tempRootsShortOfSpace(ROOM_AGAIN_BYTES)).length === 0 }),
);
