import fs from 'node:fs/promises';
import path from 'node:path';
import type { Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import { humanBytes } from '../../lib/format.js';
import { randomBase62 } from '../../lib/ids.js';
import { isStorageFull } from '../../lib/storage-full.js';
import { ensureProcessTempDir, processTempDir, trackCleanup } from '../../lib/temp-area.js';
import { AppError, BadRequest, InsufficientStorage, PayloadTooLarge } from '../../errors.js';

// Room for the multipart framing and the few small fields around the file.
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

const messages = {
  tooLarge: (limit: number) => `The file is larger than the ${humanBytes(limit)} limit. Choose a smaller image.`,
  oneFile: 'Send exactly one image, in the form field "file".',
  noFile: 'No image was attached. Choose an image file and try again.',
  malformed: 'The upload could not be read as a form. Try again, or use the upload page.',
  tooManyFields: 'The upload form had unexpected extra fields.',
};

function translateMulterError(err: unknown, limit: number): Error {
  if (err instanceof AppError) return err; // raised by beforeFile, already meant for the client
  // ENOSPC while the file is written: the server's disk, never the uploader's form.
  if (isStorageFull(err)) return new InsufficientStorage(undefined, undefined, undefined, { cause: err });
  if (err instanceof multer.MulterError) {
    switch (err.code) {
      case 'LIMIT_FILE_SIZE':
        return new PayloadTooLarge(messages.tooLarge(limit), 'file_too_large');
      case 'LIMIT_FILE_COUNT':
      case 'LIMIT_UNEXPECTED_FILE':
        return new BadRequest(messages.oneFile, 'one_file_only');
      default:
        return new BadRequest(messages.tooManyFields, 'malformed_upload');
    }
  }
  // busboy's parse errors (no boundary, truncated body, bad headers) are the client's.
  return new BadRequest(messages.malformed, 'malformed_upload');
}

/**
 * Receives one file to this process's temp folder on disk (lib/temp-area.ts), never into memory, with explicit
 * limits on every part of the form. The temp file is removed when the response is finished or the connection
 * closes, whatever happened, even when writing it failed half-way; a graceful shutdown waits for that removal.
 */
export function singleImageUpload(options: {
  tempDir: string;
  maxBytes: number;
  /** Runs when the file part begins, with the fields sent before it in req.body; a rejection stops the upload unwritten. */
  beforeFile?: (req: Request) => Promise<void>;
  /** A form without a file passes on (upload by URL sends a link instead); the route then decides. */
  fileOptional?: boolean;
}): RequestHandler {
  const beforeFile = options.beforeFile;
  // Registers the folder now: the heartbeat starts and dead processes' leftovers go at start-up, not at the first upload.
  const folder = processTempDir(options.tempDir);
  const written = new WeakMap<Request, string>();
  const receive = multer({
    fileFilter: beforeFile ? (req, _file, cb) => void beforeFile(req).then(() => cb(null, true), cb) : undefined,
    storage: multer.diskStorage({
      destination: (_req, _file, cb) => {
        ensureProcessTempDir(options.tempDir).then(
          (dir) => cb(null, dir),
          (err: Error) => cb(err, ''),
        );
      },
      filename: (req, _file, cb) => {
        const name = `${randomBase62(20)}.upload`;
        written.set(req, path.join(folder, name)); // known before a byte is written: a failed write is removed too
        cb(null, name);
      },
    }),
    limits: {
      fileSize: options.maxBytes,
      files: 1,
      fields: 8,
      fieldNameSize: 64,
      fieldSize: 4096,
      parts: 10,
      headerPairs: 50,
    },
    // Browsers send file names as raw UTF-8; busboy's default (latin1) would garble every non-ASCII name.
    defParamCharset: 'utf8',
  }).single('file');

  return (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > options.maxBytes + MULTIPART_OVERHEAD_BYTES) {
      next(new PayloadTooLarge(messages.tooLarge(options.maxBytes), 'file_too_large'));
      return;
    }
    res.once('close', () => {
      const file = written.get(req) ?? req.file?.path;
      if (file) trackCleanup(fs.rm(file, { force: true }));
    });
    receive(req, res, (err?: unknown) => {
      if (err) {
        next(translateMulterError(err, options.maxBytes));
        return;
      }
      if (!req.file && !options.fileOptional) {
        next(new BadRequest(messages.noFile, 'no_file'));
        return;
      }
      next();
    });
  };
}

/** Fires when the client goes away before its answer is sent: an upload by URL stops fetching and removes its temp file. */
export function abortOnClientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
