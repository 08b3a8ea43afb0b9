import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// The chunks before the first IDAT are a few small ones (IHDR, PLTE, tRNS, pHYs...); this reads all of them.
const HEAD_BYTES = 64 * 1024;

/**
 * Where the pHYs chunk (physical pixel size: the source's DPI) sits in a PNG, or null. The PNG specification puts
 * it before the first IDAT, so only the head of the file is read.
 */
export function findPhys(head: Buffer): { start: number; end: number } | null {
  if (head.length < 8 || !head.subarray(0, 8).equals(SIGNATURE)) return null;
  let offset = 8;
  while (offset + 8 <= head.length) {
    const length = head.readUInt32BE(offset);
    const type = head.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (type === 'pHYs') return { start: offset, end };
    if (type === 'IDAT' || type === 'IEND') return null;
    offset = end;
  }
  return null;
}

/**
 * Removes the pHYs chunk from a PNG file, by copying it without those bytes and renaming over it. libvips writes
 * one into a PNG whenever the image it encodes carries a resolution, which a pipeline on the source carries over
 * from it: a small fingerprinting signal, dropped like the rest of the metadata. Uploads' PNGs are encoded from the
 * decoded TIFF, which usually has none; this stays as the guarantee. Returns the file's new size.
 */
export async function stripPngPhys(file: string): Promise<number> {
  const handle = await fs.open(file, 'r');
  let head: Buffer;
  let size: number;
  try {
    size = (await handle.stat()).size;
    head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  const phys = findPhys(head);
  if (!phys) return size;
  const temp = `${file}.nophys`;
  try {
    const out = createWriteStream(temp);
    out.write(head.subarray(0, phys.start));
    await pipeline(createReadStream(file, { start: phys.end }), out);
    await fs.rename(temp, file);
  } finally {
    await fs.rm(temp, { force: true });
  }
  return size - (phys.end - phys.start);
}
