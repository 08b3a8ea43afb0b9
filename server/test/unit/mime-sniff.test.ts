import { expect } from 'chai';
import sharp from 'sharp';
import { ACCEPTED_TYPES, sniffImageType, SNIFF_BYTES, type ImageType } from '../../lib/mime-sniff.js';

type Format = ImageType['format'];

/** Real images, encoded by sharp from a small gradient. */
async function encode(format: Format): Promise<Buffer> {
  const pixels = Buffer.alloc(24 * 16 * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 37) % 256;
  const image = sharp(pixels, { raw: { width: 24, height: 16, channels: 3 } });
  if (format === 'avif') return image.avif({ quality: 50, effort: 0 }).toBuffer();
  return image.toFormat(format).toBuffer();
}

/** An ISO-BMFF file type box: size, 'ftyp', major brand, minor version, compatible brands. */
function ftyp(major: string, compatible: string[], size = 16 + 4 * compatible.length): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write('ftyp', 4, 'latin1');
  return Buffer.concat([head, Buffer.from(major, 'latin1'), Buffer.alloc(4), ...compatible.map((b) => Buffer.from(b, 'latin1'))]);
}

const text = (value: string): Buffer => Buffer.from(value, 'utf8');
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** How many leading bytes each format's signature needs. */
const SIGNATURE_LENGTH: Record<Format, number> = { jpeg: 3, png: 8, gif: 6, webp: 12, avif: 16 };

describe('mime-sniff', () => {
  it('accepts exactly JPEG, PNG, GIF, WebP and AVIF, with matching MIME types and extensions', () => {
    expect(ACCEPTED_TYPES.map((t) => `${t.format} ${t.mime} ${t.ext}`)).to.deep.equal([
      'jpeg image/jpeg jpg',
      'png image/png png',
      'gif image/gif gif',
      'webp image/webp webp',
      'avif image/avif avif',
    ]);
  });

  describe('real images made by sharp', () => {
    const formats: Format[] = ['jpeg', 'png', 'gif', 'webp', 'avif'];
    for (const format of formats) {
      describe(format, () => {
        let bytes: Buffer;
        before(async () => {
          bytes = await encode(format);
        });

        it('is recognised from the whole file', () => {
          expect(sniffImageType(bytes)?.format).to.equal(format);
        });

        it(`is recognised from its first SNIFF_BYTES (${SNIFF_BYTES}) bytes`, () => {
          const type = sniffImageType(bytes.subarray(0, SNIFF_BYTES));
          expect(type).to.deep.equal(ACCEPTED_TYPES.find((t) => t.format === format));
        });

        it('is not recognised from a prefix shorter than its signature, and never throws on any prefix', () => {
          const needed = SIGNATURE_LENGTH[format];
          for (let length = 0; length <= SNIFF_BYTES; length += 1) {
            const got = sniffImageType(bytes.subarray(0, length));
            expect(got?.format ?? null, `first ${length} bytes`).to.equal(length < needed ? null : format);
          }
        });

        it('is not recognised when shifted by one leading byte', () => {
          expect(sniffImageType(Buffer.concat([Buffer.from([0x20]), bytes]))).to.equal(null);
        });
      });
    }

    it('recognises an animated GIF', async () => {
      const frames = Buffer.alloc(8 * 16 * 3, 0x80);
      const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } }).gif().toBuffer();
      expect(sniffImageType(gif)?.format).to.equal('gif');
    });
  });

  describe('signatures written by hand', () => {
    it('recognises GIF87a as well as GIF89a', () => {
      expect(sniffImageType(text('GIF87a'))?.format).to.equal('gif');
      expect(sniffImageType(text('GIF89a'))?.format).to.equal('gif');
      expect(sniffImageType(text('GIF88a'))).to.equal(null);
      expect(sniffImageType(text('gif89a'))).to.equal(null);
    });

    it('needs both RIFF and WEBP for WebP (WAV and AVI are RIFF too)', () => {
      expect(sniffImageType(text('RIFF\u0000\u0000\u0000\u0000WEBPVP8 '))?.format).to.equal('webp');
      expect(sniffImageType(text('RIFF\u0000\u0000\u0000\u0000WAVEfmt '))).to.equal(null);
      expect(sniffImageType(text('RIFF\u0000\u0000\u0000\u0000AVI LIST'))).to.equal(null);
      expect(sniffImageType(text('RIFX\u0000\u0000\u0000\u0000WEBPVP8 '))).to.equal(null);
    });

    it('recognises AVIF from the major brand, a compatible brand, or the image-sequence brand avis', () => {
      expect(sniffImageType(ftyp('avif', ['mif1', 'miaf']))?.format).to.equal('avif');
      expect(sniffImageType(ftyp('mif1', ['miaf', 'avif']))?.format).to.equal('avif');
      expect(sniffImageType(ftyp('avis', ['msf1']))?.format).to.equal('avif');
      expect(sniffImageType(ftyp('avif', []))?.format).to.equal('avif');
    });

    it('does not take other ISO-BMFF files (HEIC, MP4, QuickTime, 3GP) for AVIF', () => {
      expect(sniffImageType(ftyp('heic', ['mif1', 'heic']))).to.equal(null);
      expect(sniffImageType(ftyp('mif1', ['heic', 'heix']))).to.equal(null);
      expect(sniffImageType(ftyp('isom', ['iso2', 'mp41']))).to.equal(null);
      expect(sniffImageType(ftyp('qt  ', ['qt  ']))).to.equal(null);
      expect(sniffImageType(ftyp('3gp4', ['3gp4']))).to.equal(null);
    });

    it('ignores an avif brand in the minor-version slot or past the end of the ftyp box', () => {
      const minor = ftyp('mif1', ['miaf']);
      minor.write('avif', 12, 'latin1');
      expect(sniffImageType(minor)).to.equal(null);
      const beyondBox = Buffer.concat([ftyp('mif1', ['miaf']), text('avif')]);
      expect(sniffImageType(beyondBox)).to.equal(null);
    });

    it('rejects an ftyp box whose size is smaller than its own header', () => {
      for (const size of [0, 1, 8, 15]) expect(sniffImageType(ftyp('avif', ['mif1'], size)), `size ${size}`).to.equal(null);
    });

    it('needs the full eight-byte PNG signature (a line-ending-mangled PNG is refused)', () => {
      expect(sniffImageType(Buffer.from(PNG_SIGNATURE))?.format).to.equal('png');
      expect(sniffImageType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0a, 0x1a, 0x0a, 0x00]))).to.equal(null);
      expect(sniffImageType(text('PNG\r\n\u001a\n'))).to.equal(null);
    });
  });

  describe('first-bytes only (decoding must catch the rest)', () => {
    it('calls a PNG signature followed by junk a PNG', () => {
      const junk = Buffer.concat([Buffer.from(PNG_SIGNATURE), text('<html><script>alert(1)</script></html>')]);
      expect(sniffImageType(junk)?.format).to.equal('png');
    });

    it('calls a JPEG start followed by HTML a JPEG', () => {
      expect(sniffImageType(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), text('<html>')]))?.format).to.equal('jpeg');
    });
  });

  describe('things that are not accepted images', () => {
    const rejected: Array<[string, Buffer]> = [
      ['an empty buffer', Buffer.alloc(0)],
      ['a single JPEG byte', Buffer.from([0xff])],
      ['zeros', Buffer.alloc(64)],
      ['HTML', text('<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>')],
      ['HTML in upper case', text('<HTML><BODY onload=alert(1)>')],
      ['SVG without a prolog', text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')],
      ['SVG with an XML prolog', text('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
      ['SVG after a UTF-8 BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text('<svg xmlns="http://www.w3.org/2000/svg"/>')])],
      ['SVG after whitespace', text(' \r\n\t <svg xmlns="http://www.w3.org/2000/svg"/>')],
      ['SVG as UTF-16LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>', 'utf16le')])],
      ['SVG with a prolog after a BOM and a DOCTYPE', text('\ufeff<?xml version="1.0"?><!DOCTYPE svg><svg/>')],
      ['PDF', text('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n')],
      ['a ZIP archive', Buffer.concat([text('PK\u0003\u0004'), Buffer.alloc(26)])],
      ['an empty ZIP archive', Buffer.concat([text('PK\u0005\u0006'), Buffer.alloc(18)])],
      ['gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3])],
      ['an ELF executable', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(25)])],
      ['BMP', Buffer.concat([text('BM'), Buffer.alloc(30)])],
      ['TIFF (little-endian)', Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])],
      ['TIFF (big-endian)', Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])],
      ['an ICO icon', Buffer.from([0, 0, 1, 0, 1, 0, 16, 16])],
      ['JPEG XL', Buffer.from([0xff, 0x0a, 0xfa, 0x7f])],
      ['plain text that names a format', text('GIF image, PNG, WEBP, avif')],
      ['a JavaScript file', text('alert(document.domain)')],
    ];
    for (const [what, bytes] of rejected) {
      it(`returns null for ${what}`, () => {
        expect(sniffImageType(bytes)).to.equal(null);
      });
    }

    it('never throws on short random buffers', () => {
      let seed = 42;
      const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
      for (let length = 0; length <= 40; length += 1) {
        for (let round = 0; round < 50; round += 1) {
          const bytes = Buffer.from(Array.from({ length }, next));
          if (length >= 8 && round % 2 === 0) bytes.write('ftyp', 4, 'latin1'); // exercise the ISO-BMFF branch
          expect(() => sniffImageType(bytes)).not.to.throw();
        }
      }
    });
  });
});
