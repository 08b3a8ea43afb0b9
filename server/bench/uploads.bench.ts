/**
 * Uploads against the bare sharp work any image host must do with the same 12 MP photos (decode, orient, re-encode
 * at Pixbin's JPEG settings, a 400 px WebP thumbnail; two files at a time), then the server's RSS: idle, during
 * 16 parallel ~20 MB uploads, and idle again 5 s later. Pixbin runs in a child process so its RSS is its own.
 * A second bare row also makes the display variant, so the outputs match what Pixbin stores; both sides' CPU time
 * is measured too, since other load on the machine skews wall time but barely the CPU a piece of work needs.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ENCODER_SETTINGS } from '../services/image-processing.service.js';
import { upload } from '../test/helpers/http.js';
import { appEntry, startApp } from './app-child.js';
import { mb, MB, ms, photoLike, printTable, ratio, sleep, timed, treeCpuSeconds, treeRss, treeRssSampler, type Bench, type BenchOptions } from './bench-helpers.js';

const THUMBNAIL_SIZE = 400; // Pixbin's THUMBNAIL_SIZE default
const DISPLAY_MAX_PX = 1600; // Pixbin's DISPLAY_MAX_PX default
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

/** The same, plus the display variant: every image file Pixbin stores for an upload. */
async function bareSharpWithDisplay(input: string, outDir: string, i: number): Promise<void> {
  await bareSharp(input, outDir, i);
  await sharp(input)
    .autoOrient()
    .resize(DISPLAY_MAX_PX, DISPLAY_MAX_PX, { fit: 'inside', withoutEnlargement: true })
    .webp(ENCODER_SETTINGS.display)
    .toFile(path.join(outDir, `${i}.display.webp`));
}

/** Wall time and this process's CPU seconds of a timed run. */
async function timedWithCpu(count: number, task: (i: number) => Promise<void>) {
  const before = process.cpuUsage();
  const result = await timed(count, CONCURRENCY, task);
  const used = process.cpuUsage(before);
  return { ...result, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** What the Pixbin child runs with beyond its defaults that changes memory behaviour (BENCH_APP_* settings). */
function allocatorNote(): string {
  const preload = process.env.BENCH_APP_LD_PRELOAD;
  const tuning = Object.entries(process.env)
    .filter(([key]) => key.startsWith('BENCH_APP_MALLOC_'))
    .map(([key, value]) => `${key.slice('BENCH_APP_'.length)}=${value}`);
  const parts = [preload ? `LD_PRELOAD=${preload}` : 'the system malloc (glibc unless preloaded)', ...tuning];
  const concurrency = process.env.BENCH_APP_IMAGE_CONCURRENCY;
  return `${parts.join(', ')}; IMAGE_CONCURRENCY=${concurrency ?? '2 (default)'}`;
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
    console.log(`  Pixbin: ${entry.note}${entry.kind === 'tsx' ? ' (tsx adds its compiler and an esbuild child to RSS and start-up; ratios hold)' : ''}`);
    console.log(`  Allocator: ${allocatorNote()}`);
    console.log(`  Input: ${count} photos of 4000×3000 (${(Math.min(...sizes) / MB).toFixed(1)}–${(Math.max(...sizes) / MB).toFixed(1)} MB), ${CONCURRENCY} at a time; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);

    const outDir = path.join(workDir, 'out');
    await fs.mkdir(outDir);
    await bareSharpWithDisplay(photos[0]!, outDir, -1); // warm-up, as Pixbin gets one below
    const bare = await timedWithCpu(count, (i) => bareSharp(photos[i]!, outDir, i));
    const bareDisplay = await timedWithCpu(count, (i) => bareSharpWithDisplay(photos[i]!, outDir, i));

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
      const cpuBefore = treeCpuSeconds(app.pid);
      const pixbin = { ...(await timed(count, CONCURRENCY, (i) => send(bodies[i]!))), cpuSeconds: 0 };
      pixbin.cpuSeconds = treeCpuSeconds(app.pid) - cpuBefore;
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

      const row = (name: string, run: typeof pixbin, versus: string) => [
        name,
        `${run.seconds.toFixed(2)} s`,
        ms((run.seconds * 1000) / count),
        ms(run.p95),
        run.perSecond.toFixed(2),
        ms((run.cpuSeconds * 1000) / count),
        versus,
      ];
      printTable(
        ['pipeline', 'total', 'per photo', 'p95 latency', 'photos/s', 'CPU per photo', 'bare ÷ Pixbin (wall, CPU)'],
        [
          row('bare sharp (re-encode + thumbnail): the goal', bare, ''),
          row('bare sharp + display variant (same files)', bareDisplay, ''),
          row('Pixbin POST /upload (JSON, guest)', pixbin, `${ratio(bare.seconds / pixbin.seconds)}, ${ratio(bare.cpuSeconds / pixbin.cpuSeconds)}`),
          ['  the same, against bare + display', '', '', '', '', '', `${ratio(bareDisplay.seconds / pixbin.seconds)}, ${ratio(bareDisplay.cpuSeconds / pixbin.cpuSeconds)}`],
        ],
      );
      console.log(
        '  Pixbin also does what the goal\'s bare row leaves out and it must not: the 1600 px WebP display variant (the second bare row has it),',
      );
      console.log('  the blocklist\'s pixel SHA-256 and perceptual hash, a SHA-256 of each stored file, the HTTP upload to disk, the fsynced storage copy and the database row.');
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
