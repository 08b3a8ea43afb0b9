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

  it('gives the same hash as the full normalisation for 8-bit sRGB pixels', async () => {
    const decoded = path.join(dir, 'decoded.v');
    const jpeg = await scene(21, 320, 200);
    await sharp(jpeg).toFile(decoded);
    const fast = await pixelSha256IfNormalised(decoded);
    expect(fast).to.match(/^[0-9a-f]{64}$/);
    expect(fast).to.equal(await pixelSha256(sharp(jpeg), dir));
    expect(await fs.readdir(dir), 'no copy of the pixels left behind').to.deep.equal(['decoded.v']);
  });

  const others: Record<string, (jpeg: Buffer) => Sharp> = {
    'an alpha channel': (jpeg) => sharp(jpeg).ensureAlpha(),
    '16 bits a sample': (jpeg) => sharp(jpeg).toColourspace('rgb16'),
    'one grey band': (jpeg) => sharp(jpeg).toColourspace('b-w'),
  };
  for (const [what, make] of Object.entries(others)) {
    it(`declines pixels with ${what}, which the full normalisation must handle`, async () => {
      const decoded = path.join(dir, 'decoded.v');
      await make(await scene(22, 160, 120)).toFile(decoded);
      expect(await pixelSha256IfNormalised(decoded)).to.equal(null);
    });
  }
});
