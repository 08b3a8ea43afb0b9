import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { findPhys, stripPngPhys } from '../../lib/png-phys.js';
import { processImage } from '../../services/image-processing.service.js';

/** The chunk types of a PNG, in order (pHYs with its pixels per metre). */
function chunks(png: Buffer): string[] {
  const types: string[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    types.push(type === 'pHYs' ? `pHYs:${png.readUInt32BE(offset + 8)}` : type);
    offset += 12 + length;
  }
  return types;
}

describe('PNG outputs carry no pHYs (the source’s physical resolution, a fingerprinting signal)', function () {
  this.timeout(30_000);
  let workDir: string;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-phys-'));
  });
  after(() => fs.rm(workDir, { recursive: true, force: true }));

  it('an upload at 300 dpi is stored with no pHYs chunk, and still decodes to the same pixels', async () => {
    const source = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } }).png().withMetadata({ density: 300 }).toBuffer();
    expect(chunks(source)).to.include('pHYs:11811'); // 300 dpi in pixels per metre
    const input = path.join(workDir, 'input.png');
    await fs.writeFile(input, source);
    const out = await processImage(input, { maxPixels: 1e6, thumbnailSize: 32, displayMaxPx: 1600, workDir });
    const stored = await fs.readFile(out.original.path);
    expect(chunks(stored).filter((c) => c.startsWith('pHYs'))).to.deep.equal([]);
    expect(chunks(stored)).to.deep.equal(['IHDR', 'IDAT', 'IEND']);
    expect(out.original.size).to.equal(stored.length);
    const pixels = await sharp(stored).raw().toBuffer();
    expect(pixels.equals(await sharp(source).raw().toBuffer())).to.equal(true);
    expect((await sharp(stored).metadata()).density, 'the default a reader assumes, not the source’s 300').to.equal(72);
    for (const variant of [out.original, out.thumbnail, out.display]) await fs.rm(variant.path);
  });

  it('finds pHYs only before the image data, and leaves a PNG without one untouched', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: '#00000080' } }).png({ palette: true }).toBuffer();
    const phys = findPhys(png)!;
    expect(png.toString('latin1', phys.start + 4, phys.start + 8)).to.equal('pHYs');
    expect(findPhys(Buffer.from('not a png at all'))).to.equal(null);
    const file = path.join(workDir, 'twice.png');
    await fs.writeFile(file, png);
    expect(await stripPngPhys(file)).to.equal(png.length - (phys.end - phys.start));
    const once = await fs.readFile(file);
    expect(await stripPngPhys(file)).to.equal(once.length);
    expect((await fs.readFile(file)).equals(once)).to.equal(true);
    expect(chunks(once)).to.include('PLTE').and.include('tRNS');
  });
});
