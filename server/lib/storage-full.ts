import type { Logger } from 'pino';
import { InsufficientStorage, messages } from '../errors.js';
import { burstLogFor, plural } from './burst-log.js';
import { tempRootsShortOfSpace } from './temp-area.js';

/**
 * "The disk is full", wherever it surfaces: fs and multer (ENOSPC, EDQUOT), libvips (no code, only the C library's
 * text "No space left on device" in its message), SQLite (SQLITE_FULL) and our own InsufficientStorage. None of
 * them is the uploader's fault: they answer 507 storage_full (http/errors.ts) and are logged once per burst, with a
 * count, and one line when there is room again.
 *
 * An upload refused before processing because it needs more room than is free (NoRoomForUpload) is none of these:
 * the disk is not full, this one image is too large for what is left. It answers 507 too, with its own message, and
 * goes to its own rate-limited warning (noRoomLog), never into the disk-full burst: a stranger's tiny file whose
 * header claims 49 MP must not raise a "disk full" alarm, nor keep one going.
 */

const CODES = new Set(['ENOSPC', 'EDQUOT']);
const MESSAGE = /No space left on device|Dis[ck] quota exceeded|database or disk is full/i;

/** A short code for the log (ENOSPC, EDQUOT, SQLITE_FULL, libvips, storage_full), or null when err is not "disk full". */
export function storageFullCode(err: unknown, depth = 0): string | null {
  if (typeof err !== 'object' || err === null || depth > 3) return null;
  if (err instanceof NoRoomForUpload) return null;
  if (err instanceof InsufficientStorage) return (err.cause ? storageFullCode(err.cause, depth + 1) : null) ?? 'storage_full';
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (CODES.has(code)) return code;
  if (/^SQLITE_FULL/.test(code)) return 'SQLITE_FULL';
  if (typeof e.message === 'string' && MESSAGE.test(e.message)) return code || 'libvips';
  return e.cause ? storageFullCode(e.cause, depth + 1) : null;
}

/**
 * An upload whose processing needs more free space than DATA_DIR has (image-processing.service.ts checks before
 * decoding): 507 storage_full, but "this image is too large for the space left", not "the disk is full".
 */
export class NoRoomForUpload extends InsufficientStorage {
  constructor(
    readonly neededBytes: number,
    readonly freeBytes: number,
  ) {
    super(messages.noRoomForUpload);
  }
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

/** At most one warning line this often about uploads refused for lack of room (with a count of the others). */
export const NO_ROOM_LOG_EVERY_MS = 60_000;

export type NoRoomLog = {
  /** Counts err if it is a NoRoomForUpload (logging a warning if none was logged in the last everyMs); false otherwise. */
  failed(err: unknown): boolean;
};

const mb = (bytes: number): number => Math.round(bytes / (1024 * 1024));

export function createNoRoomLog(logger: Logger, options: { now?: () => number; everyMs?: number } = {}): NoRoomLog {
  const now = options.now ?? Date.now;
  const everyMs = options.everyMs ?? NO_ROOM_LOG_EVERY_MS;
  let lastLineAt: number | null = null;
  let refused = 0;
  return {
    failed(err) {
      if (!(err instanceof NoRoomForUpload)) return false;
      refused += 1;
      const at = now();
      if (lastLineAt === null || at - lastLineAt >= everyMs) {
        logger.warn(
          { storage: 'short', neededBytes: err.neededBytes, freeBytes: err.freeBytes, refused },
          `upload refused with 507: processing it needs ${mb(err.neededBytes)} MB free in DATA_DIR, ${mb(err.freeBytes)} MB is free (${plural(refused, 'upload', 'uploads')} refused for lack of room since the last such line)`,
        );
        lastLineAt = at;
        refused = 0;
      }
      return true;
    },
  };
}

const noRoomLogs = new WeakMap<Logger, NoRoomLog>();
/** The no-room log of a pino logger (one per logger, shared by the page and API error handlers). */
export function noRoomLog(logger: Logger): NoRoomLog {
  let log = noRoomLogs.get(logger);
  if (!log) {
    log = createNoRoomLog(logger);
    noRoomLogs.set(logger, log);
  }
  return log;
}
