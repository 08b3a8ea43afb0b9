import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { pixelSha256, pixelSha256IfNormalised } from '../../lib/perceptual-hash.js';
import { scene } from '../fixtures/scenes.js';

/**
 * The upload pipeline hashes a decoded photo's pixels where they lie when they already are what the blocklist's
 * normalisation makes (oriented, 8-bit sRGB, three bands); anything else must be left to the full normalisation.
 */
describe('pixel hash of already-normalised decoded pixels', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-pixel-fast-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  // The upload pipeline's decoded file is an uncompressed TIFF (read, not mapped); libvips' .v is still understood.
  const formats: Record<string, { file: string; save: (image: Sharp) => Sharp }> = {
    'an uncompressed TIFF': { file: 'decoded.tif', save: (image) => image.tiff({ compression: 'none' }) },
    'a VIPS file': { file: 'decoded.v', save: (image) => image },
  };
  for (const [format, { file, save }] of Object.entries(formats)) {
    it(`gives the same hash as the full normalisation for 8-bit sRGB pixels in ${format}`, async () => {
      const decoded = path.join(dir, file);
      const jpeg = await scene(21, 320, 200);
      await save(sharp(jpeg)).toFile(decoded);
      const fast = await pixelSha256IfNormalised(decoded);
      expect(fast).to.match(/^[0-9a-f]{64}$/);
      expect(fast).to.equal(await pixelSha256(sharp(jpeg), dir));
      expect(await fs.readdir(dir), 'no copy of the pixels left behind').to.deep.equal([file]);
    });

    const others: Record<string, (jpeg: Buffer) => Sharp> = {
      'an alpha channel': (jpeg) => sharp(jpeg).ensureAlpha(),
      '16 bits a sample': (jpeg) => sharp(jpeg).toColourspace('rgb16'),
      'one grey band': (jpeg) => sharp(jpeg).toColourspace('b-w'),
    };
    for (const [what, make] of Object.entries(others)) {
      it(`declines pixels with ${what} in ${format}, which the full normalisation must handle`, async () => {
        const decoded = path.join(dir, file);
        await save(make(await scene(22, 160, 120))).toFile(decoded);
        expect(await pixelSha256IfNormalised(decoded)).to.equal(null);
      });
    }
  }

  it('declines a compressed TIFF and one whose pixels are tiled', async () => {
    const jpeg = await scene(23, 320, 200);
    await sharp(jpeg).tiff({ compression: 'lzw' }).toFile(path.join(dir, 'lzw.tif'));
    await sharp(jpeg).tiff({ compression: 'none', tile: true, tileWidth: 64, tileHeight: 64 }).toFile(path.join(dir, 'tiled.tif'));
    expect(await pixelSha256IfNormalised(path.join(dir, 'lzw.tif'))).to.equal(null);
    expect(await pixelSha256IfNormalised(path.join(dir, 'tiled.tif'))).to.equal(null);
  });
});
