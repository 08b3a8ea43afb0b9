import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { BadRequest, PayloadTooLarge, UnsupportedMediaType, Unprocessable } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { sniffImageType, SNIFF_BYTES, type ImageType } from '../lib/mime-sniff.js';
import { sha256OfFile } from '../lib/file-hash.js';
import { contentHashes, type ContentHashes } from '../lib/perceptual-hash.js';

// libvips' own cache keeps decoded images around; memory must stay flat under hostile uploads.
sharp.cache(false);

/** Encoder settings, documented in the README: visually lossless for photos, lossless where the source was. */
export const ENCODER_SETTINGS = {
  // libjpeg-turbo with optimised Huffman tables: mozjpeg's trellis was 8x slower for ~10% smaller files.
  jpeg: { quality: 90, progressive: true, optimiseCoding: true },
  png: { compressionLevel: 9, adaptiveFiltering: true },
  gif: { effort: 7, reuse: true },
  webp: { quality: 90, effort: 4 },
  avif: { quality: 70, effort: 4 },
  thumbnail: { quality: 80, effort: 4 },
} as const;

const PROCESSING_TIMEOUT_SECONDS = 60;

const messages = {
  empty: 'The file is empty. Choose an image file and try again.',
  unsupported: 'That file is not a supported image. Pixbin accepts JPEG, PNG, GIF, WebP and AVIF.',
  svg: 'SVG files are not accepted, because they can carry scripts. Export it as PNG and upload that instead.',
  html: 'That file is a web page, not an image. Pixbin accepts JPEG, PNG, GIF, WebP and AVIF.',
  corrupt: 'The image could not be read. It may be truncated or damaged; try exporting it again.',
  mismatch: 'The file claims to be one image type but contains another. Try re-saving it.',
  tooManyPixels: (pixels: number, limit: number) =>
    `The image is too large to process: ${(pixels / 1e6).toFixed(1)} megapixels, over the ${(limit / 1e6).toFixed(1)} megapixel limit. Resize it and try again.`,
};

export type ProcessedVariant = { path: string; size: number; sha256: string; width: number; height: number };
/** hashes: of the uploaded pixels (not our re-encode), for the hash blocklist. */
export type ProcessedImage = { type: ImageType; frames: number; original: ProcessedVariant; thumbnail: ProcessedVariant; hashes: ContentHashes };
export type ProcessingOptions = { maxPixels: number; thumbnailSize: number; workDir: string };

async function readHead(file: string): Promise<{ head: Buffer; size: number }> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(SNIFF_BYTES * 8, size));
    await handle.read(head, 0, head.length, 0);
    return { head, size };
  } finally {
    await handle.close();
  }
}

function rejectUnsupported(head: Buffer): never {
  const text = head.toString('utf8').replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg'))) throw new UnsupportedMediaType(messages.svg, 'svg_not_allowed');
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || text.startsWith('<script')) throw new UnsupportedMediaType(messages.html, 'unsupported_type');
  throw new UnsupportedMediaType(messages.unsupported, 'unsupported_type');
}

// sharp reports AVIF as its container family, HEIF.
const SHARP_FORMATS: Record<ImageType['format'], string> = { jpeg: 'jpeg', png: 'png', gif: 'gif', webp: 'webp', avif: 'heif' };

function encoderFor(type: ImageType, pipeline: Sharp): Sharp {
  switch (type.format) {
    case 'jpeg':
      return pipeline.jpeg(ENCODER_SETTINGS.jpeg);
    case 'png':
      return pipeline.png(ENCODER_SETTINGS.png);
    case 'gif':
      return pipeline.gif(ENCODER_SETTINGS.gif);
    case 'webp':
      return pipeline.webp(ENCODER_SETTINGS.webp);
    case 'avif':
      return pipeline.avif(ENCODER_SETTINGS.avif);
  }
}

async function finishVariant(file: string, info: OutputInfo, pageHeight?: number): Promise<ProcessedVariant> {
  return { path: file, size: info.size, sha256: await sha256OfFile(file), width: info.width, height: pageHeight ?? info.height };
}

/**
 * Validates an uploaded file and re-encodes it: orientation applied, colours converted to sRGB, every byte of
 * metadata (EXIF, GPS, XMP, IPTC, ICC, comments, trailing data) dropped. Writes the outputs into workDir;
 * the caller owns and removes them. Throws AppErrors for anything the client got wrong.
 */
export async function processImage(input: string, options: ProcessingOptions): Promise<ProcessedImage> {
  const { head, size } = await readHead(input);
  if (size === 0) throw new BadRequest(messages.empty, 'empty_file');
  const type = sniffImageType(head);
  if (!type) rejectUnsupported(head);

  const animatable = type.format === 'gif' || type.format === 'webp';
  let meta: Metadata;
  try {
    // Reads the header only: a decompression bomb is measured here without being decoded.
    meta = await sharp(input, { animated: animatable, limitInputPixels: false }).metadata();
  } catch {
    throw new Unprocessable(messages.corrupt, 'corrupt_image');
  }
  if (meta.format !== SHARP_FORMATS[type.format]) throw new UnsupportedMediaType(messages.mismatch, 'type_mismatch');
  const frames = animatable ? Math.max(1, meta.pages ?? 1) : 1;
  const frameHeight = meta.pageHeight ?? meta.height ?? 0;
  const width = meta.width ?? 0;
  const pixels = width * frameHeight * frames;
  if (!width || !frameHeight) throw new Unprocessable(messages.corrupt, 'corrupt_image');
  if (pixels > options.maxPixels) throw new PayloadTooLarge(messages.tooManyPixels(pixels, options.maxPixels), 'too_many_pixels');

  const base = path.join(options.workDir, randomBase62(16));
  const originalPath = `${base}.${type.ext}`;
  const thumbPath = `${base}.thumb.webp`;
  const open = (animated: boolean) =>
    sharp(input, { animated, limitInputPixels: options.maxPixels, sequentialRead: true }).timeout({ seconds: PROCESSING_TIMEOUT_SECONDS });
  try {
    const animated = animatable && frames > 1;
    const originalInfo = await encoderFor(type, open(animated).autoOrient()).toFile(originalPath);
    const thumbInfo = await open(false)
      .autoOrient()
      .resize(options.thumbnailSize, options.thumbnailSize, { fit: 'inside', withoutEnlargement: true })
      .webp(ENCODER_SETTINGS.thumbnail)
      .toFile(thumbPath);
    // From the input, not the re-encoded original: the same source file hashes the same whatever our encoder
    // settings or libvips version, so an identical re-upload always matches exactly.
    const hashes = await contentHashes(input, { maxPixels: options.maxPixels, workDir: options.workDir, timeoutSeconds: PROCESSING_TIMEOUT_SECONDS });
    return {
      type,
      frames,
      original: await finishVariant(originalPath, originalInfo, animated ? originalInfo.height / frames : undefined),
      thumbnail: await finishVariant(thumbPath, thumbInfo),
      hashes,
    };
  } catch (err) {
    await Promise.all([fs.rm(originalPath, { force: true }), fs.rm(thumbPath, { force: true })]);
    if ((err as NodeJS.ErrnoException).code) throw err; // disk trouble is ours, not the uploader's
    if (err instanceof Error && /pixel limit/i.test(err.message)) {
      throw new PayloadTooLarge(messages.tooManyPixels(pixels, options.maxPixels), 'too_many_pixels');
    }
    throw new Unprocessable(messages.corrupt, 'corrupt_image');
  }
}

