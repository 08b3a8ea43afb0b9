import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { BadRequest, InsufficientStorage, PayloadTooLarge, UnsupportedMediaType, Unprocessable } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { sniffImageType, SNIFF_BYTES, type ImageType } from '../lib/mime-sniff.js';
import { sha256OfFile } from '../lib/file-hash.js';
import { perceptualHash, pixelSha256, pixelSha256IfNormalised, type ContentHashes } from '../lib/perceptual-hash.js';
import { stripPngPhys } from '../lib/png-phys.js';
import { Semaphore } from '../lib/semaphore.js';
import { isStorageFull, NoRoomForUpload } from '../lib/storage-full.js';
import { ensureProcessTempDir, freeBytes } from '../lib/temp-area.js';

// libvips' own cache keeps decoded images around; memory must stay flat under hostile uploads.
sharp.cache(false);

/**
 * Pixels being processed at once, across all uploads, from the one decode to the last hash. The original's encoder
 * holds the whole picture: libjpeg keeps every DCT coefficient of a progressive or Huffman-optimised JPEG until it
 * writes (measured ~6.5 bytes a pixel: 162 MB for 25 MP, against 19 MB for a plain baseline JPEG), and the WebP, AVIF
 * and GIF encoders keep whole frames too. IMAGE_CONCURRENCY counts uploads whatever their size; this bounds the bytes: two 12 MP photos are processed
 * side by side, a 25 MP one alone. Held for the encode only, a 25 MP encode still overlapped another upload's
 * decode and variants, and 16 parallel 25 MP uploads peaked ~60 MB higher (measured, issue 14).
 */
const PIXEL_BUDGET = 30_000_000;
const pixelBudget = new Semaphore(PIXEL_BUDGET);

/** Encoder settings, documented in the README: visually lossless for photos, lossless where the source was. */
export const ENCODER_SETTINGS = {
  // libjpeg-turbo with optimised Huffman tables: mozjpeg's trellis was 8x slower for ~10% smaller files.
  jpeg: { quality: 90, progressive: true, optimiseCoding: true },
  png: { compressionLevel: 9, adaptiveFiltering: true },
  gif: { effort: 7, reuse: true },
  webp: { quality: 90, effort: 4 },
  avif: { quality: 70, effort: 4 },
  thumbnail: { quality: 80, effort: 4 },
  // What share pages and link previews load instead of the original: ~1/10 of a phone photo's bytes at 1600 px,
  // with no visible loss at that size (82 is where WebP's artefacts stopped showing on the test photos). Effort 2,
  // not 4: measured on 1600 px pictures, 30-55 % of effort 4's CPU (96 against 208 ms for a photo), for photos'
  // files within 3 % of its size (most a little smaller); a screenshot-like picture came out 12 % larger. The
  // display variant is most of what an upload adds to the bare re-encode.
  display: { quality: 82, effort: 2 },
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
export type ProcessedImage = { type: ImageType; frames: number; original: ProcessedVariant; thumbnail: ProcessedVariant; display: ProcessedVariant; hashes: ContentHashes };
/** displayMaxPx: DISPLAY_MAX_PX, the display variant's longest side. */
export type ProcessingOptions = { maxPixels: number; thumbnailSize: number; displayMaxPx: number; workDir: string };

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

async function finishVariant(file: string, info: { size: number; width: number; height: number }, pageHeight?: number): Promise<ProcessedVariant> {
  return { path: file, size: info.size, sha256: await sha256OfFile(file), width: info.width, height: pageHeight ?? info.height };
}

/** A WebP of the first frame, orientation applied, at most `side` px on its longest side and never enlarged. */
const webpVariant = (source: Sharp, side: number, settings: { quality: number; effort: number }, file: string) =>
  source.autoOrient().resize(side, side, { fit: 'inside', withoutEnlargement: true }).webp(settings).toFile(file);

/**
 * The one full decode: the first frame's pixels, written as an uncompressed TIFF that every later pipeline reads
 * from disk instead of decoding the upload again. It holds exactly what a pipeline on the upload itself sees after
 * its colour step and its orientation: the embedded ICC profile (or CMYK) already converted, 16-bit depth kept, the
 * EXIF orientation applied and nothing else. The full-size rotation, which needs the whole picture in memory, thus
 * happens once, here, and not again beside the original's encoder or in the pixel hash. The original and the
 * blocklist's hashes come out byte-identical to a pipeline on the upload itself; a rotated photo's thumbnail and
 * display variant are resized after rotating instead of before, which moves rounding by a level here and there (a
 * few bytes of the WebP), nothing visible.
 * TIFF, not libvips' own .v: libvips maps a .v file into memory, and the pages each pipeline touched counted in the
 * process's RSS until it ended (+72 MB for 25 MP, measured), while a TIFF is read into small buffers. Same CPU.
 */
async function decodeOnce(input: string, file: string, meta: Metadata, maxPixels: number): Promise<void> {
  let decoded = sharp(input, { limitInputPixels: maxPixels, sequentialRead: true }).timeout({ seconds: PROCESSING_TIMEOUT_SECONDS }).autoOrient();
  // Without this, the output step would cast 16-bit pixels to 8 bits before they reach the file.
  if (meta.space === 'rgb16' || meta.space === 'grey16') decoded = decoded.toColourspace(meta.space);
  await decoded.tiff({ compression: 'none' }).toFile(file);
}

/** Room for the thumbnail, the display variant and filesystem overhead, on top of the estimate below. */
const SCRATCH_MARGIN_BYTES = 4 * 1024 * 1024;

/**
 * The free space an upload needs on DATA_DIR once its file has arrived, before processing starts (the README's
 * figure): the decoded pixels (.decoded.tif: width × height × channels × bytes per sample, first frame), a second
 * 8-bit RGB copy for the pixel hash when the decoded pixels are not already plain 8-bit sRGB, the re-encoded
 * original (counted as the upload's size) twice, once in tmp/ and once in storage/.tmp while it is being stored,
 * and a margin. A 24 MP 8-bit JPEG of 8 MB needs about 72 + 16 + 4 = 92 MB; a 50 MP one 150 MB and more.
 */
export function scratchBytesNeeded(meta: Pick<Metadata, 'width' | 'height' | 'pageHeight' | 'channels' | 'depth' | 'space'>, fileBytes: number): number {
  const pixels = (meta.width ?? 0) * (meta.pageHeight ?? meta.height ?? 0);
  const bytesPerSample = meta.depth === 'ushort' ? 2 : meta.depth === 'float' || meta.depth === 'uint' ? 4 : 1;
  const decoded = pixels * (meta.channels ?? 3) * bytesPerSample;
  const normalised = (meta.channels ?? 3) === 3 && bytesPerSample === 1 && (meta.space === 'srgb' || meta.space === undefined);
  return decoded + (normalised ? 0 : pixels * 3) + 2 * fileBytes + SCRATCH_MARGIN_BYTES;
}

/** Free space below which a processing failure counts as the disk running out (a libvips write is far smaller). */
export const OUT_OF_SPACE_BELOW_BYTES = SCRATCH_MARGIN_BYTES;

/**
 * Whether a processing step failed because the disk ran out, not because of the file: libvips says so in its
 * message (isStorageFull), or, for a failed write in an encoder, not at all, so a failure that left the disk with
 * next to nothing free (freeAtFailure, measured before the scratch files are removed) counts too. Anything else,
 * with however little room for this image, is the file's own fault: a corrupt image stays 422.
 */
export function failedForLackOfSpace(err: unknown, freeAtFailure: number | null): boolean {
  return isStorageFull(err) || (freeAtFailure !== null && freeAtFailure < OUT_OF_SPACE_BELOW_BYTES);
}

/**
 * Validates an uploaded file and re-encodes it: orientation applied, colours converted to sRGB, every byte of
 * metadata (EXIF, GPS, XMP, IPTC, ICC, comments, PNG resolution, trailing data) dropped. Makes the original, the
 * thumbnail, the display variant and the content hashes from one decode. Writes the outputs into workDir; the
 * caller owns and removes them. Throws AppErrors for anything the client got wrong.
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

  // Scratch files go in this process's own temp folder (lib/temp-area.ts), removed whole after a crash. An upload
  // the disk has no room for is refused here, before a byte of scratch is written, not half-way through.
  const workDir = await ensureProcessTempDir(options.workDir);
  // Too large for the space left is not "the disk is full": its own 507 and its own rate-limited warning.
  const needed = scratchBytesNeeded(meta, size);
  const free = await freeBytes(workDir);
  if (free !== null && free < needed) throw new NoRoomForUpload(needed, free);

  const base = path.join(workDir, randomBase62(16));
  const decodedPath = `${base}.decoded.tif`;
  const originalPath = `${base}.${type.ext}`;
  const thumbPath = `${base}.thumb.webp`;
  const displayPath = `${base}.display.webp`;
  const timed = (image: Sharp) => image.timeout({ seconds: PROCESSING_TIMEOUT_SECONDS });
  const fromUpload = (animated: boolean) => timed(sharp(input, { animated, limitInputPixels: options.maxPixels, sequentialRead: true }));
  const fromDecoded = () => timed(sharp(decodedPath, { limitInputPixels: false, sequentialRead: true }));
  try {
    return await pixelBudget.run(async () => {
      await decodeOnce(input, decodedPath, meta, options.maxPixels);
      const animated = animatable && frames > 1;
      // One after another: uploads already run IMAGE_CONCURRENCY at a time and each libvips pipeline uses every core;
      // side by side they were barely faster on 2 cores and cost ~80-150 MB more peak RSS each (measured, issue 14).
      // A GIF's original is made from the upload itself: an animation needs every frame, and a still GIF the
      // source's palette, which the decoded TIFF does not carry (the review measured still GIFs re-encoded from
      // the TIFF at up to twice their size).
      const originalInfo = await encoderFor(type, (type.format === 'gif' || animated ? fromUpload(animated) : fromDecoded()).autoOrient()).toFile(originalPath);
      const thumbInfo = await webpVariant(fromDecoded(), options.thumbnailSize, ENCODER_SETTINGS.thumbnail, thumbPath);
      const displayInfo = await webpVariant(fromDecoded(), options.displayMaxPx, ENCODER_SETTINGS.display, displayPath);
      // Of the uploaded pixels, not our re-encode: the same source file hashes the same whatever our encoder settings,
      // so an identical re-upload always matches exactly. A decoded photo's pixels usually are already normalised
      // (oriented, 8-bit sRGB, no alpha) and are hashed where they lie instead of being copied first.
      const pixelHash = (await pixelSha256IfNormalised(decodedPath)) ?? (await pixelSha256(fromDecoded(), workDir));
      // A JPEG's perceptual hash has always come from a DCT-scaled decode of the JPEG (see perceptualHash), a fraction
      // of a full decode; every other format's comes from the decoded pixels.
      const phash = await perceptualHash(type.format === 'jpeg' ? fromUpload(false) : fromDecoded());
      const originalSize = type.format === 'png' ? await stripPngPhys(originalPath) : originalInfo.size;
      return {
        type,
        frames,
        original: await finishVariant(originalPath, { ...originalInfo, size: originalSize }, animated ? originalInfo.height / frames : undefined),
        thumbnail: await finishVariant(thumbPath, thumbInfo),
        display: await finishVariant(displayPath, displayInfo),
        hashes: { pixelSha256: pixelHash, phash },
      };
    }, pixels);
  } catch (err) {
    // Measured before our scratch files go: what the disk looked like when the step failed.
    const freeAtFailure = isStorageFull(err) ? 0 : await freeBytes(workDir).catch(() => null);
    await Promise.all([decodedPath, originalPath, thumbPath, displayPath].map((file) => fs.rm(file, { force: true })));
    if (failedForLackOfSpace(err, freeAtFailure)) throw new InsufficientStorage(undefined, undefined, undefined, { cause: err });
    if ((err as NodeJS.ErrnoException).code) throw err; // other disk trouble is ours too: a 500, logged
    if (err instanceof Error && /pixel limit/i.test(err.message)) {
      throw new PayloadTooLarge(messages.tooManyPixels(pixels, options.maxPixels), 'too_many_pixels');
    }
    throw new Unprocessable(messages.corrupt, 'corrupt_image');
  } finally {
    await fs.rm(decodedPath, { force: true });
  }
}

/**
 * The display variant of a stored original (the backfill, for images from before display variants): the same
 * WebP an upload gets, made from the original's first frame. Writes it into workDir; the caller removes it.
 */
export async function displayVariantOf(original: string, options: Pick<ProcessingOptions, 'maxPixels' | 'displayMaxPx' | 'workDir'>): Promise<ProcessedVariant> {
  const file = path.join(await ensureProcessTempDir(options.workDir), `${randomBase62(16)}.display.webp`);
  try {
    const source = sharp(original, { limitInputPixels: options.maxPixels, sequentialRead: true }).timeout({ seconds: PROCESSING_TIMEOUT_SECONDS });
    return await finishVariant(file, await webpVariant(source, options.displayMaxPx, ENCODER_SETTINGS.display, file));
  } catch (err) {
    await fs.rm(file, { force: true });
    throw err;
  }
}
