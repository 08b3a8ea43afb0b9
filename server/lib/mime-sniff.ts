/** The image types Pixbin accepts, recognised from their first bytes only. */
export type ImageType = { mime: string; ext: string; format: 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' };

export const ACCEPTED_TYPES: readonly ImageType[] = [
  { mime: 'image/jpeg', ext: 'jpg', format: 'jpeg' },
  { mime: 'image/png', ext: 'png', format: 'png' },
  { mime: 'image/gif', ext: 'gif', format: 'gif' },
  { mime: 'image/webp', ext: 'webp', format: 'webp' },
  { mime: 'image/avif', ext: 'avif', format: 'avif' },
];

/** How many leading bytes sniffImageType needs. */
export const SNIFF_BYTES = 32;

const byFormat = (format: ImageType['format']): ImageType => ACCEPTED_TYPES.find((t) => t.format === format)!;

function startsWith(buf: Buffer, bytes: number[], offset = 0): boolean {
  return buf.length >= offset + bytes.length && bytes.every((b, i) => buf[offset + i] === b);
}

const ascii = (buf: Buffer, start: number, end: number): string => buf.subarray(start, end).toString('latin1');

function isAvif(buf: Buffer): boolean {
  // ISO-BMFF: [size]['ftyp'][major brand][minor version][compatible brands…]
  if (buf.length < 16 || ascii(buf, 4, 8) !== 'ftyp') return false;
  const boxSize = buf.readUInt32BE(0);
  const end = Math.min(boxSize, buf.length);
  if (boxSize < 16) return false;
  const brands = [ascii(buf, 8, 12)];
  for (let i = 16; i + 4 <= end; i += 4) brands.push(ascii(buf, i, i + 4));
  return brands.includes('avif') || brands.includes('avis');
}

/** Returns the image type the bytes declare, or null. Names and headers are never consulted. */
export function sniffImageType(head: Buffer): ImageType | null {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return byFormat('jpeg');
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return byFormat('png');
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return byFormat('gif');
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return byFormat('webp');
  if (isAvif(head)) return byFormat('avif');
  return null;
}
