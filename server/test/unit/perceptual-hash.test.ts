import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { contentHashes, FLAT_PHASH, hammingDistance, type ContentHashes } from '../../lib/perceptual-hash.js';
import { reencodedSmaller, scene } from '../fixtures/scenes.js';

const DEFAULT_DISTANCE = 10; // BLOCKLIST_MATCH_DISTANCE's default

describe('perceptual hash', function () {
  this.timeout(60_000);
  let workDir: string;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-phash-'));
  });
  after(() => fs.rm(workDir, { recursive: true, force: true }));

  const hashOf = async (bytes: Buffer): Promise<ContentHashes> => {
    const file = path.join(workDir, `${Math.random().toString(36).slice(2)}.img`);
    await fs.writeFile(file, bytes);
    try {
      return await contentHashes(file, { maxPixels: 50_000_000, workDir });
    } finally {
      await fs.rm(file);
    }
  };

  it('counts differing bits, and treats anything that is not a 64-bit hex hash as far away', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).to.equal(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).to.equal(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).to.equal(2);
    expect(hammingDistance('0f0f000000000000', 'f0f0000000000000')).to.equal(16);
    expect(hammingDistance('xyz', '0000000000000000')).to.equal(64);
  });

  it('is stable: the same file, or the same pixels from a stream, hash the same; the scratch file is removed', async () => {
    const bytes = await scene(1);
    const a = await hashOf(bytes);
    expect(a.pixelSha256).to.match(/^[0-9a-f]{64}$/);
    expect(a.phash).to.match(/^[0-9a-f]{16}$/);
    expect(await hashOf(bytes)).to.deep.equal(a);
    expect(await contentHashes(Readable.from([bytes]), { maxPixels: 50_000_000, workDir })).to.deep.equal(a);
    // PNG is lossless: the same pixels in another container are the same exact hash.
    expect((await hashOf(await sharp(bytes).png().toBuffer())).pixelSha256).to.equal(a.pixelSha256);
    expect(await fs.readdir(workDir)).to.deep.equal([]);
  });

  it('normalises: orientation applied, alpha flattened on white; different shapes never share an exact hash', async () => {
    const upright = await sharp(await scene(2, 300, 200)).rotate(90).png().toBuffer();
    const tagged = await sharp(await scene(2, 300, 200)).png().withMetadata({ orientation: 6 }).toBuffer();
    expect((await hashOf(tagged)).pixelSha256).to.equal((await hashOf(upright)).pixelSha256);
    const transparent = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const white = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffffff' } }).png().toBuffer();
    expect((await hashOf(transparent)).pixelSha256).to.equal((await hashOf(white)).pixelSha256);
    // 40×30 and 30×40 of the same white pixels: same bytes, different shapes.
    const tall = await sharp({ create: { width: 30, height: 40, channels: 3, background: '#ffffff' } }).png().toBuffer();
    expect((await hashOf(tall)).pixelSha256).not.to.equal((await hashOf(white)).pixelSha256);
  });

  it('gives every single-colour picture the flat hash, which the blocklist never matches perceptually', async () => {
    for (const background of ['#ff0000', '#00ff00', '#123456', '#ffffff', '#000000']) {
      const flat = await sharp({ create: { width: 300, height: 200, channels: 3, background } }).png().toBuffer();
      expect((await hashOf(flat)).phash, background).to.equal(FLAT_PHASH);
    }
    expect((await hashOf(await scene(3))).phash).not.to.equal(FLAT_PHASH);
  });

  it('treats a near-blank picture (one line on white, like an error screenshot) as flat, but not a page of lines', async () => {
    const lines = (bars: Array<[number, number, number]>) =>
      sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="800"><rect width="1200" height="800" fill="#fff"/>${bars.map(([x, y, w]) => `<rect x="${x}" y="${y}" width="${w}" height="8" fill="#666"/>`).join('')}</svg>`)).png().toBuffer();
    for (const bar of [[40, 80, 420], [40, 80, 700], [300, 400, 250]] as Array<[number, number, number]>) {
      expect((await hashOf(await lines([bar]))).phash, String(bar)).to.equal(FLAT_PHASH);
    }
    const page = await lines(Array.from({ length: 18 }, (_, i) => [40, 30 + i * 42, 700 + ((i * 137) % 400)] as [number, number, number]));
    expect((await hashOf(page)).phash).not.to.equal(FLAT_PHASH);
  });

  it('keeps re-encoded and resized copies within the default distance, and unrelated pictures far beyond it', async () => {
    const seeds = [11, 12, 13, 14, 15, 16, 17, 18];
    const originals = await Promise.all(seeds.map((s) => scene(s)));
    const hashes = await Promise.all(originals.map(hashOf));
    const copies: Record<string, number[]> = { 'jpeg q50 at 60%': [], 'jpeg q30 at 40%': [], png: [], 'webp q75': [] };
    for (const [i, original] of originals.entries()) {
      const variants: Record<string, Buffer> = {
        'jpeg q50 at 60%': await reencodedSmaller(original),
        'jpeg q30 at 40%': await reencodedSmaller(original, 0.4, 30),
        png: await sharp(original).png().toBuffer(),
        'webp q75': await sharp(original).webp({ quality: 75 }).toBuffer(),
      };
      for (const [name, bytes] of Object.entries(variants)) {
        const copy = await hashOf(bytes);
        copies[name]!.push(hammingDistance(hashes[i]!.phash, copy.phash));
        if (name !== 'png') expect(copy.pixelSha256, `${name} is not the same pixels`).not.to.equal(hashes[i]!.pixelSha256);
      }
    }
    const unrelated: number[] = [];
    for (let i = 0; i < hashes.length; i += 1) for (let j = i + 1; j < hashes.length; j += 1) unrelated.push(hammingDistance(hashes[i]!.phash, hashes[j]!.phash));
    // Measured on this generator (40 scenes): copies 0–4 bits, unrelated pictures 20 or more (median 32).
    console.log('      copies:', JSON.stringify(copies), 'unrelated: min', Math.min(...unrelated), 'max', Math.max(...unrelated));
    for (const [name, distances] of Object.entries(copies)) expect(Math.max(...distances), name).to.be.at.most(DEFAULT_DISTANCE);
    expect(Math.min(...unrelated)).to.be.above(2 * DEFAULT_DISTANCE);
  });

  it('hashes a 12-megapixel photo in bounded memory and time', async () => {
    const big = await sharp(await scene(21)).resize(4000, 3000).jpeg({ quality: 90 }).toBuffer();
    await hashOf(big); // warm up
    const started = process.hrtime.bigint();
    await hashOf(big);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`      4000×3000 JPEG: ${ms.toFixed(0)} ms for both hashes`);
    expect(ms).to.be.below(5000);
  });
});
