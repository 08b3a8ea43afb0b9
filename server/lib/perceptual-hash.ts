import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp, { type Sharp } from 'sharp';
import { randomBase62 } from './ids.js';

/** The two content hashes the blocklist keeps of an image. */
export type ContentHashes = { pixelSha256: string; phash: string };
export type HashOptions = { maxPixels: number; workDir: string; timeoutSeconds?: number };

const HASH_SIDE = 32; // the DCT runs on a 32×32 greyscale copy
const LOW = 8; // of which the 8×8 lowest frequencies (after the first row and column) make the 64 bits
const COS = Array.from({ length: HASH_SIDE }, (_, k) => Float64Array.from({ length: HASH_SIDE }, (_, n) => Math.cos(((2 * n + 1) * k * Math.PI) / (2 * HASH_SIDE))));
const VIPS_HEADER_BYTES = 64;
const PHASH = /^[0-9a-f]{16}$/;
/**
 * The perceptual hash of a picture with too little structure to compare: one colour, or a near-blank one (a
 * white screenshot with one line of text), whose 32×32 copies all look alike. Such pictures match exactly only.
 */
export const FLAT_PHASH = '0000000000000000';
// Standard deviation of the 32×32 grey copy below which a picture counts as near-blank. Measured: one line of
// text on white 0.6–6.4, a page of text ~17, photo-like pictures 24–43.
const MIN_STRUCTURE = 10;

/** Both hashes go through the same normalisation: first frame, orientation applied, alpha flattened on white, 8-bit sRGB. */
const normalised = (image: Sharp): Sharp => image.autoOrient().flatten({ background: '#ffffff' }).toColourspace('srgb');

type VipsLayout = { width: number; height: number; bands: number; format: number; coding: number; interpretation: number };

/** The pixel layout from a VIPS (.v) file's 64-byte header; the magic's byte order tells how its integers are stored. */
async function vipsLayout(file: string): Promise<VipsLayout> {
  const header = Buffer.alloc(VIPS_HEADER_BYTES);
  const handle = await fs.open(file, 'r');
  try {
    await handle.read(header, 0, VIPS_HEADER_BYTES, 0);
  } finally {
    await handle.close();
  }
  const littleEndian = header.readUInt32LE(0) === 0x08f2a6b6;
  const int = (offset: number) => (littleEndian ? header.readInt32LE(offset) : header.readInt32BE(offset));
  return { width: int(4), height: int(8), bands: int(12), format: int(20), coding: int(24), interpretation: int(28) };
}

// The layout normalised() writes: three unsigned 8-bit bands (format 0), uncoded, sRGB (interpretation 22).
const isNormalisedLayout = (layout: VipsLayout) => layout.bands === 3 && layout.format === 0 && layout.coding === 0 && layout.interpretation === 22;

/** The hash of the pixel bytes [start, start + width × height × 3) of a file, the dimensions hashed first. */
async function hashPixelBytes(file: string, width: number, height: number, start: number): Promise<string> {
  const hash = createHash('sha256').update(`pixbin-pixels-v1 ${width}x${height}x3\n`);
  await pipeline(createReadStream(file, { start, end: start + width * height * 3 - 1 }), hash);
  return hash.digest('hex');
}

const hashVipsPixels = (file: string, layout: VipsLayout) => hashPixelBytes(file, layout.width, layout.height, VIPS_HEADER_BYTES);

/** The TIFF tags judged below (libvips writes no other tag that changes what the pixel bytes mean). */
const TIFF = { width: 256, height: 257, bitsPerSample: 258, compression: 259, photometric: 262, stripOffsets: 273, orientation: 274, samplesPerPixel: 277, stripByteCounts: 279, planar: 284, extraSamples: 338, sampleFormat: 339, iccProfile: 34675 } as const;
const TIFF_TYPE_BYTES: Record<number, number> = { 3: 2, 4: 4 }; // SHORT, LONG

/**
 * Where the pixels of an uncompressed TIFF lie when they are what normalised() makes (three 8-bit samples a pixel,
 * RGB, no alpha, no ICC profile, no orientation) and every strip follows the one before, as libvips writes them:
 * the offset of the first pixel byte; null for anything else (a BigTIFF, tiles, compression, another layout).
 */
async function tiffPixelStart(handle: fs.FileHandle, width: number, height: number, tags: Map<number, number[]>): Promise<number | null> {
  // A judged tag present without a value we could read (another type, too many values) declines the file.
  const one = (tag: number, fallback?: number) => (tags.has(tag) ? (tags.get(tag)![0] ?? Number.NaN) : fallback);
  if (one(TIFF.compression, 1) !== 1 || one(TIFF.photometric) !== 2 || one(TIFF.samplesPerPixel, 1) !== 3 || one(TIFF.planar, 1) !== 1) return null;
  if (one(TIFF.orientation, 1) !== 1 || one(TIFF.sampleFormat, 1) !== 1 || tags.has(TIFF.extraSamples) || tags.has(TIFF.iccProfile)) return null;
  const bits = tags.get(TIFF.bitsPerSample) ?? [];
  if (bits.length !== 3 || bits.some((b) => b !== 8)) return null;
  const offsets = tags.get(TIFF.stripOffsets) ?? [];
  const counts = tags.get(TIFF.stripByteCounts) ?? [];
  if (!offsets.length || offsets.length !== counts.length) return null;
  for (let i = 1; i < offsets.length; i += 1) if (offsets[i] !== offsets[i - 1]! + counts[i - 1]!) return null;
  const total = counts.reduce((sum, c) => sum + c, 0);
  const { size } = await handle.stat();
  return total === width * height * 3 && offsets[0]! + total <= size ? offsets[0]! : null;
}

/** The first IFD of a classic TIFF, each SHORT or LONG tag with its values (others are kept as present, with none). */
async function tiffTags(handle: fs.FileHandle): Promise<Map<number, number[]> | null> {
  const head = Buffer.alloc(8);
  await handle.read(head, 0, 8, 0);
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const littleEndian = order === 'II';
  const u16 = (b: Buffer, at: number) => (littleEndian ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (b: Buffer, at: number) => (littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at));
  if (u16(head, 2) !== 42) return null;
  const ifd = u32(head, 4);
  const countBytes = Buffer.alloc(2);
  await handle.read(countBytes, 0, 2, ifd);
  const entries = Buffer.alloc(u16(countBytes, 0) * 12);
  await handle.read(entries, 0, entries.length, ifd + 2);
  const tags = new Map<number, number[]>();
  for (let at = 0; at + 12 <= entries.length; at += 12) {
    const tag = u16(entries, at);
    const width = TIFF_TYPE_BYTES[u16(entries, at + 2)];
    const count = u32(entries, at + 4);
    if (!width || count > 1_000_000) {
      tags.set(tag, []);
      continue;
    }
    let values = entries.subarray(at + 8, at + 12);
    if (width * count > 4) {
      values = Buffer.alloc(width * count);
      await handle.read(values, 0, values.length, u32(entries, at + 8));
    }
    tags.set(tag, Array.from({ length: count }, (_, i) => (width === 2 ? u16(values, i * 2) : u32(values, i * 4))));
  }
  return tags;
}

/** pixelSha256 of an uncompressed TIFF's own pixels when they lie as tiffPixelStart requires; null otherwise. */
async function tiffPixelSha256(file: string): Promise<string | null> {
  const handle = await fs.open(file, 'r');
  let found: { width: number; height: number; start: number } | null = null;
  try {
    const tags = await tiffTags(handle);
    const width = tags?.get(TIFF.width)?.[0];
    const height = tags?.get(TIFF.height)?.[0];
    if (tags && width && height) {
      const start = await tiffPixelStart(handle, width, height, tags);
      if (start !== null) found = { width, height, start };
    }
  } finally {
    await handle.close();
  }
  return found && hashPixelBytes(file, found.width, found.height, found.start);
}

/**
 * SHA-256 of the normalised pixels, with the dimensions hashed first so different shapes never collide.
 * Memory stays flat: libvips streams the decoded pixels into a .v file (a 64-byte header, then raw pixels, then
 * XML) in workDir, and only the pixel bytes are read back through the hash. The file holds width × height × 3
 * bytes (at most MAX_IMAGE_PIXELS × 3) and is removed on every path.
 */
export async function pixelSha256(image: Sharp, workDir: string): Promise<string> {
  const file = path.join(workDir, `${randomBase62(16)}.pixels.v`);
  try {
    const info = await normalised(image).toFile(file);
    const layout = await vipsLayout(file);
    if (layout.width !== info.width || layout.height !== info.height || !isNormalisedLayout(layout)) throw new Error('unexpected pixel layout');
    return await hashVipsPixels(file, layout);
  } finally {
    await fs.rm(file, { force: true });
  }
}

/**
 * pixelSha256 of a decoded file's own pixels when they are already what normalised() makes of them (oriented, no
 * alpha, 8-bit sRGB: a decoded JPEG, typically), without writing a normalised copy; null when they are anything
 * else. The file is a VIPS (.v) file or an uncompressed TIFF as libvips writes it. The caller must know the pixels
 * are oriented and in sRGB: neither format is trusted to say so.
 */
export async function pixelSha256IfNormalised(file: string): Promise<string | null> {
  const magic = Buffer.alloc(4);
  const handle = await fs.open(file, 'r');
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (magic.toString('latin1', 0, 2) === 'II' || magic.toString('latin1', 0, 2) === 'MM') return tiffPixelSha256(file);
  const layout = await vipsLayout(file);
  return isNormalisedLayout(layout) ? hashVipsPixels(file, layout) : null;
}

/**
 * A DCT perceptual hash (pHash): greyscale 32×32, 2-D DCT, then one bit per low frequency, set when it is above
 * their median. Re-encoding, resizing and small colour changes move few bits; unrelated pictures differ in ~32.
 * sharp's fast JPEG shrink-on-load is off, though it still decodes a large JPEG at 1/2 to 1/8 scale (DCT scaling,
 * leaving at least a 2× resize): a JPEG's hash must therefore come from the JPEG itself, never from decoded pixels.
 */
export async function perceptualHash(image: Sharp): Promise<string> {
  const pixels = await normalised(image).greyscale().resize(HASH_SIDE, HASH_SIDE, { fit: 'fill', fastShrinkOnLoad: false }).raw().toBuffer();
  const mean = pixels.reduce((sum, p) => sum + p, 0) / pixels.length;
  const spread = Math.sqrt(pixels.reduce((sum, p) => sum + (p - mean) ** 2, 0) / pixels.length);
  if (spread < MIN_STRUCTURE) return FLAT_PHASH;
  const coefficients: number[] = [];
  for (let u = 1; u <= LOW; u += 1) {
    for (let v = 1; v <= LOW; v += 1) {
      let sum = 0;
      for (let y = 0; y < HASH_SIDE; y += 1) {
        let row = 0;
        for (let x = 0; x < HASH_SIDE; x += 1) row += pixels[y * HASH_SIDE + x]! * COS[v]![x]!;
        sum += row * COS[u]![y]!;
      }
      // Rounded: a flat image's coefficients are rounding noise, and must not pose as structure.
      coefficients.push(Math.round(sum));
    }
  }
  const sorted = [...coefficients].sort((a, b) => a - b);
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hex = '';
  for (let i = 0; i < 64; i += 4) {
    let nibble = 0;
    for (let j = 0; j < 4; j += 1) nibble = (nibble << 1) | (coefficients[i + j]! > median ? 1 : 0);
    hex += nibble.toString(16);
  }
  return hex;
}

/**
 * Both content hashes of an image file or stream (a stream is read once and buffered compressed by sharp).
 * Throws on an image sharp cannot decode.
 */
export async function contentHashes(input: string | Readable, options: HashOptions): Promise<ContentHashes> {
  const open = { limitInputPixels: options.maxPixels, sequentialRead: true } as const;
  let source: Sharp;
  if (typeof input === 'string') {
    source = sharp(input, open);
  } else {
    source = sharp(open);
    input.on('error', (err) => source.destroy(err));
    input.pipe(source);
  }
  const timed = () => source.clone().timeout({ seconds: options.timeoutSeconds ?? 60 });
  const [pixels, phash] = await Promise.all([pixelSha256(timed(), options.workDir), perceptualHash(timed())]);
  return { pixelSha256: pixels, phash };
}

/** Bits in which two perceptual hashes differ (0–64); 64 when either is not a 16-digit hex hash. */
export function hammingDistance(a: string, b: string): number {
  if (!PHASH.test(a) || !PHASH.test(b)) return 64;
  let x = BigInt.asUintN(64, BigInt(`0x${a}`) ^ BigInt(`0x${b}`));
  let bits = 0;
  while (x) {
    bits += Number(x & 1n);
    x >>= 1n;
  }
  return bits;
}
