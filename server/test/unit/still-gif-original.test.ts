import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { processImage } from '../../services/image-processing.service.js';
import { scene } from '../fixtures/scenes.js';

/**
 * A still GIF's original is encoded from the upload itself, with its palette (the decoded TIFF carries none; the
 * review of issue 14 measured still GIFs re-encoded from it at up to twice their size): one frame, the same
 * dimensions, about the upload's size.
 */
describe('a still GIF’s original', function () {
  this.timeout(30_000);
  let workDir: string;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-still-gif-'));
  });
  after(() => fs.rm(workDir, { recursive: true, force: true }));

  it('keeps the source’s palette: about the upload’s size, one frame, the same dimensions', async () => {
    const source = await sharp(await scene(31, 480, 360)).gif({ colours: 64 }).toBuffer();
    const input = path.join(workDir, 'still.gif');
    await fs.writeFile(input, source);
    const out = await processImage(input, { maxPixels: 1e7, thumbnailSize: 100, displayMaxPx: 1600, workDir });
    expect(out.type.format).to.equal('gif');
    expect(out.frames).to.equal(1);
    expect([out.original.width, out.original.height]).to.deep.equal([480, 360]);
    const meta = await sharp(out.original.path).metadata();
    expect(meta.format).to.equal('gif');
    expect(out.original.size, `${out.original.size} bytes stored for a ${source.length}-byte upload`).to.be.below(source.length * 1.3);
  });
});
