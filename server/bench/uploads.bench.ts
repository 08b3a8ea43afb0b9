/**
 * Uploads against the bare sharp work any image host must do with the same 12 MP photos (decode, orient, re-encode
 * at Pixbin's JPEG settings, a 400 px WebP thumbnail; two files at a time), then the server's RSS: idle, during
 * 16 parallel ~20 MB uploads, and idle again 5 s later. Pixbin runs in a child process so its RSS is its own.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ENCODER_SETTINGS } from '../services/image-processing.service.js';
import { upload } from '../test/helpers/http.js';
import { appEntry, startApp } from './app-child.js';
import { mb, MB, ms, photoLike, printTable, ratio, sleep, timed, treeRss, treeRssSampler, type Bench, type BenchOptions } from './bench-helpers.js';

const THUMBNAIL_SIZE = 400; // Pixbin's THUMBNAIL_SIZE default
const CONCURRENCY = 2;

/** 12 MP photos of 4–8 MB; every other one carries EXIF orientation 6, as a phone held upright writes. */
async function twelveMegapixelPhotos(count: number, dir: string): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    let image = photoLike(4000, 3000, 100 + i, 24).jpeg({ quality: 92 });
    if (i % 2) image = image.withMetadata({ orientation: 6 });
    const file = path.join(dir, `photo-${i}.jpg`);
    await image.toFile(file);
    files.push(file);
  }
  return files;
}

/** What any host must do with an upload: the oriented re-encode and the thumbnail, nothing else. */
async function bareSharp(input: string, outDir: string, i: number): Promise<void> {
  await sharp(input).autoOrient().jpeg(ENCODER_SETTINGS.jpeg).toFile(path.join(outDir, `${i}.jpg`));
  await sharp(input)
    .autoOrient()
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp(ENCODER_SETTINGS.thumbnail)
    .toFile(path.join(outDir, `${i}.thumb.webp`));
}

async function run(options: BenchOptions): Promise<void> {
  const count = options.quick ? 4 : 12;
  const parallel = options.quick ? 4 : 16;
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-uploads-'));
  const entry = appEntry();
  try {
    const photos = await twelveMegapixelPhotos(count, workDir);
    const sizes = await Promise.all(photos.map(async (f) => (await fs.stat(f)).size));
    const bodies = await Promise.all(photos.map((f) => fs.readFile(f)));
    const big = await photoLike(5000, 5000, 7, 127).jpeg({ quality: 93 }).toBuffer(); // 25 MP, ~20 MB
    console.log(`  Pixbin: ${entry.note}`);
    console.log(`  Input: ${count} photos of 4000×3000 (${(Math.min(...sizes) / MB).toFixed(1)}–${(Math.max(...sizes) / MB).toFixed(1)} MB), ${CONCURRENCY} at a time; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);

    const outDir = path.join(workDir, 'out');
    await fs.mkdir(outDir);
    await bareSharp(photos[0]!, outDir, -1); // warm-up, as Pixbin gets one below
    const bare = await timed(count, CONCURRENCY, (i) => bareSharp(photos[i]!, outDir, i));

    const app = await startApp(entry);
    try {
      await sleep(1000);
      const idleStart = treeRss(app.pid);
      const send = async (bytes: Buffer) => {
        const res = await upload(app.url, { bytes, filename: 'photo.jpg', contentType: 'image/jpeg' });
        if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.body.toString().slice(0, 300)}`);
      };
      await send(bodies[0]!); // warm-up
      let sampler = treeRssSampler(app.pid);
      const pixbin = await timed(count, CONCURRENCY, (i) => send(bodies[i]!));
      const peakPhotos = sampler.stop();

      sampler = treeRssSampler(app.pid);
      const started = performance.now();
      const statuses = await Promise.all(
        Array.from({ length: parallel }, () => upload(app.url, { bytes: big, filename: 'big.jpg', contentType: 'image/jpeg' }).then((r) => r.status)),
      );
      const parallelSeconds = (performance.now() - started) / 1000;
      const peakParallel = sampler.stop();
      await sleep(5000);
      const idleAfter = treeRss(app.pid);

      printTable(
        ['pipeline', 'total', 'per photo', 'p95 latency', 'photos/s', 'bare ÷ Pixbin'],
        [
          ['bare sharp (re-encode + thumbnail)', `${bare.seconds.toFixed(2)} s`, ms((bare.seconds * 1000) / count), ms(bare.p95), bare.perSecond.toFixed(2), ''],
          ['Pixbin POST /upload (JSON, guest)', `${pixbin.seconds.toFixed(2)} s`, ms((pixbin.seconds * 1000) / count), ms(pixbin.p95), pixbin.perSecond.toFixed(2), ratio(bare.seconds / pixbin.seconds)],
        ],
      );
      const answered = Object.entries(statuses.reduce<Record<number, number>>((acc, s) => ((acc[s] = (acc[s] ?? 0) + 1), acc), {}))
        .map(([status, n]) => `${n}× ${status}`)
        .join(', ');
      console.log('  Server RSS (process tree, sampled every 10 ms):');
      printTable(
        ['moment', 'RSS'],
        [
          ['idle after start', mb(idleStart)],
          [`peak during the ${count} photo uploads`, mb(peakPhotos)],
          [`peak during ${parallel} parallel ${(big.length / MB).toFixed(1)} MB uploads (${parallelSeconds.toFixed(1)} s; ${answered})`, mb(peakParallel)],
          ['idle 5 s later', `${mb(idleAfter)} (${idleAfter >= idleStart ? '+' : '−'}${mb(Math.abs(idleAfter - idleStart))} over start)`],
        ],
      );
      console.log('  Goals (issue 14): ≥ 0.80× bare sharp; peak ≤ 350 MB during 16 parallel ~20 MB uploads; idle back within 100 MB of start.');
    } finally {
      await app.stop();
    }
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

export const uploadsBench: Bench = { name: 'uploads', title: 'Uploads: Pixbin vs bare sharp, and server RSS', run };
