import fs from 'node:fs/promises';
import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import { humanBytes } from '../../lib/format.js';
import { randomBase62 } from '../../lib/ids.js';
import { AppError, BadRequest, PayloadTooLarge } from '../../errors.js';

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
 * Receives one file to a temp folder on disk, never into memory, with explicit limits on every part of the
 * form. The temp file is removed when the response is finished or the connection closes, whatever happened.
 */
export function singleImageUpload(options: {
  tempDir: string;
  maxBytes: number;
  /** Runs when the file part begins, with the fields sent before it in req.body; a rejection stops the upload unwritten. */
  beforeFile?: (req: Request) => Promise<void>;
}): RequestHandler {
  const beforeFile = options.beforeFile;
  const receive = multer({
    fileFilter: beforeFile ? (req, _file, cb) => void beforeFile(req).then(() => cb(null, true), cb) : undefined,
    storage: multer.diskStorage({
      destination: options.tempDir,
      filename: (_req, _file, cb) => cb(null, `${randomBase62(20)}.upload`),
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
      if (req.file?.path) void fs.rm(req.file.path, { force: true });
    });
    receive(req, res, (err?: unknown) => {
      if (err) {
        next(translateMulterError(err, options.maxBytes));
        return;
      }
      if (!req.file) {
        next(new BadRequest(messages.noFile, 'no_file'));
        return;
      }
      next();
    });
  };
}
