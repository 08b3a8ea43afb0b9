import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../../lib/hash.js';
import { contentHashes } from '../../lib/perceptual-hash.js';
import { processImage } from '../../services/image-processing.service.js';
import { fixtures } from '../fixtures/images.js';
import { scene } from '../fixtures/scenes.js';

/**
 * The blocklist's exact-pixel hash and perceptual hash of a given input never change: a blocklisted picture must
 * match its re-upload whatever we do to the upload pipeline. Pinned with the pipeline that decoded once per use
 * (before issue 14), on inputs that cover the decoder's paths: orientation, ICC, CMYK, 16 bits, alpha, palette,
 * greyscale, animation. `input` pins the fixture bytes themselves: if it fails, sharp's encoders changed the
 * fixture, not our hashing, and the pins must be recomputed from the old pipeline.
 */
const PINS: Record<string, { input: string; pixelSha256: string; phash: string }> = {
  'scene JPEG': { input: 'ecdb430378cd08eb6dd7508abbf93744b0157f93dccaf2cd41cd991b9da227c3', pixelSha256: 'da2512494d4114dd0b33a5ae25e03b6d65f57eef8a9436b3a418e996093d1357', phash: '307c36962dc1d2de' },
  'JPEG with EXIF orientation 6': { input: '5b7edefa339cb8ca21cda5660f7633c6f32b5f11d989d9a369886ec4280d132c', pixelSha256: '1ce9b6a54a2ce77d9840db454b3625ff628ce4237e09a843742c1bb344c39624', phash: '75c6b84b1d251c73' },
  'JPEG with GPS, XMP and a comment': { input: '506ee698eb097ebd681a1982ef754788f9c8f042d88bb1cd1beea8efa0fc8261', pixelSha256: 'ce8cc65a487dbee67bf61d592fb67efdbe57c737e66962ba49cff1293d8ebf6a', phash: '0000000000000000' },
  'Display P3 JPEG with its ICC profile': { input: '2d77f51a8f93725ef57ec6245f1d7a91c545655e5e1d2229bf5a6ca8c063d4eb', pixelSha256: '1f9ccb9a4cef1ff5fb578069242419e043f7745567412094ea487eb7d6ac433d', phash: 'd5aa5a9529d314e9' },
  'CMYK JPEG': { input: '6209222f63513ea1c6be3a9da7301c3b57aa07381a39be4fa5ae8c557de67982', pixelSha256: '669fba0f120fbd82adf294fd5f37f86ebeb42674315918af67a53bbea33f0687', phash: '6acef73f87c0c011' },
  'PNG with a text chunk': { input: 'bdd7a31d3d90c602fd603ddb4515d946340be055298fb0be60122f73e1729445', pixelSha256: '05b3acda2b781b12ace3dcea2e01c7493c5bd6dc8ff64ce31607f2e3042545bd', phash: '0000000000000000' },
  '16-bit PNG with alpha': { input: '020f28e77e735225bc5371d1392534ac382a8f692f7e5bf7481f17f97175b206', pixelSha256: 'ab307d335c69b9302fe62dd4ae80f791599546333aa333ec80cb6f6526e774da', phash: '0000000000000000' },
  'palette PNG with transparency': { input: 'b2c6a641d207ce619b5c2798723612186d8cf1383cb8606d33c782fbd22d6ab0', pixelSha256: '35bd15ed84b36fe0b74d1a830bb27d238120bb00c4ef4ef6f3584edcfe8b36fd', phash: '837f1fe03c8fe018' },
  'greyscale PNG': { input: 'ea5de2bc282903c470ced8e7c433fdb7171fb70967f40b2a87b3f20b0512f54d', pixelSha256: 'd7cf98cf46e32454f5daae7fdb23b60287d2845c788ee0ba518be038f2ced69f', phash: '65f069199b26d666' },
  'PNG tagged orientation 8': { input: 'b8ab3ccc6bdcd3548397c0b4f2c9564606092a9dbdb24c27724452fe2fb2fed7', pixelSha256: '2ec74bc62ed0f0a49df06eb890276e4a794e127df24055bd8bc28076712099e0', phash: 'fcfef8f0e0e0c0c0' },
  'WebP with alpha': { input: 'bd5f1b932dc6b711cab7a05380e9203549322347e4430af4b6a3189e92da7536', pixelSha256: '7ce8e3ea053d582ca3a1f4e9f57cd535c15fd15e23c1bb421d5c8dba9f411c71', phash: '6c906c0be46adf35' },
  'lossy WebP with EXIF': { input: 'ecf6183b70cc0c5cd4fc351268166890bbf7ca3e37373741561be01c3e9341a8', pixelSha256: '51dd85f55814fb03099fec3c883b344c4d7dc826d8f1bfc57d1bb91bea3ddbd5', phash: '0000000000000000' },
  AVIF: { input: '93175a59165b013f4d86a8190f9d9ab5343cdbe05d713e7bfda7e60ab601b717', pixelSha256: '499a930302d4d7c227024919ca6662636b813e232e805c237c245a2329bb0398', phash: '24c992469976b95f' },
  'animated GIF': { input: '16f3800aa1e6766d312a4196017824f8d905ff01e39aa4a0f3fbfc575088b4f2', pixelSha256: '2509929bc61d0588f5554f8e05f4f84337bd18630934b3323637331bad5fdfca', phash: '0000000000000000' },
  'animated WebP': { input: 'fcea96f3829891a243c38ac9a48a7c1e6465de1613b7cbe48f0a8cd38af9131c', pixelSha256: 'fda69ff44ae738e7c83acaa7ef1f2189392b5e988e67f92b37418d963a9c3ca6', phash: 'a8ad85c575b25f24' },
};

/** A scene with an alpha channel: opaque on the left, fading out to the right. */
async function sceneWithAlpha(seed: number, width: number, height: number, depth: 8 | 16 = 8) {
  const alpha = Buffer.alloc(width * height);
  for (let i = 0; i < alpha.length; i += 1) alpha[i] = 255 - Math.floor(((i % width) / width) * 255);
  const mask = await sharp(alpha, { raw: { width, height, channels: 1 } }).png().toBuffer();
  const rgba = sharp(await scene(seed, width, height)).joinChannel(mask);
  return depth === 16 ? rgba.toColourspace('rgb16') : rgba;
}

const INPUTS: Record<string, () => Promise<Buffer>> = {
  'scene JPEG': () => scene(7, 900, 600),
  'JPEG with EXIF orientation 6': async () => sharp(await scene(11, 300, 200)).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer(),
  'JPEG with GPS, XMP and a comment': () => fixtures.jpegWithGps(),
  'Display P3 JPEG with its ICC profile': async () => sharp(await scene(12, 240, 180)).jpeg({ quality: 90 }).withIccProfile('p3').toBuffer(),
  'CMYK JPEG': async () => sharp(await scene(8, 300, 200)).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer(),
  'PNG with a text chunk': () => fixtures.png(),
  '16-bit PNG with alpha': async () => (await sceneWithAlpha(13, 200, 150, 16)).png().toBuffer(),
  'palette PNG with transparency': async () => (await sceneWithAlpha(14, 200, 150)).png({ palette: true, colours: 64 }).toBuffer(),
  'greyscale PNG': async () => sharp(await scene(9, 200, 150)).greyscale().png().toBuffer(),
  'PNG tagged orientation 8': async () => sharp(await scene(10, 160, 120)).png().withMetadata({ orientation: 8 }).toBuffer(),
  'WebP with alpha': async () => (await sceneWithAlpha(15, 200, 150)).webp({ quality: 80 }).toBuffer(),
  'lossy WebP with EXIF': () => fixtures.webp(),
  AVIF: async () => sharp(await scene(16, 160, 120)).avif({ quality: 60, effort: 0 }).toBuffer(),
  'animated GIF': () => fixtures.animatedGif(),
  'animated WebP': async () => {
    const frames = await Promise.all([17, 18, 19].map(async (seed) => sharp(await scene(seed, 120, 90)).raw().toBuffer()));
    return sharp(Buffer.concat(frames), { raw: { width: 120, height: 270, channels: 3, pageHeight: 90 } }).webp({ quality: 80, delay: [100, 100, 100], loop: 0 }).toBuffer();
  },
};

describe('content hashes are pinned: the same input hashes the same, bit for bit', function () {
  this.timeout(60_000);
  let workDir: string;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-pins-'));
  });
  after(() => fs.rm(workDir, { recursive: true, force: true }));

  for (const [name, make] of Object.entries(INPUTS)) {
    it(name, async () => {
      const bytes = await make();
      const file = path.join(workDir, 'input');
      await fs.writeFile(file, bytes);
      const direct = await contentHashes(file, { maxPixels: 50_000_000, workDir });
      const processed = await processImage(file, { maxPixels: 50_000_000, thumbnailSize: 400, displayMaxPx: 1600, workDir });
      if (process.env.PIXBIN_PRINT_PINS) console.log(JSON.stringify({ [name]: { input: sha256Hex(bytes), ...direct } }));
      const pin = PINS[name];
      expect(sha256Hex(bytes), 'the fixture bytes (see the note above PINS)').to.equal(pin?.input);
      expect(direct).to.deep.equal({ pixelSha256: pin!.pixelSha256, phash: pin!.phash });
      expect(processed.hashes).to.deep.equal(direct);
      await fs.rm(file);
    });
  }
});
