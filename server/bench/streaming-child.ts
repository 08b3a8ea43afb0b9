/**
 * Upload and download throughput and memory on the embedded SQLite default, in one process of its own (the bench's
 * first figures, kept for comparison; streaming.bench.ts starts it so other benches' memory never skews its RSS). A 25 MB upload must not raise peak RSS by anything near 25 MB per concurrent upload
 * (bytes are streamed to disk, never buffered whole), and downloads stream too. The blocklist's hashing must stay
 * flat in memory (the pixels go through a scratch file, not a buffer). The S3 driver streams both ways.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import sharp from 'sharp';
import { createApp } from '../app.js';
import { prepareRuntime } from '../boot.js';
import { loadConfig } from '../config/config.js';
import { createContainer } from '../container.js';
import { createRepos } from '../db/repos.js';
import { contentHashes } from '../lib/perceptual-hash.js';
import { isBlocked } from '../services/hash-blocklist.service.js';
import { S3Storage } from '../storage/s3.storage.js';
import { rawRequest, upload } from '../test/helpers/http.js';
import { s3Settings } from '../test/helpers/s3.js';
import { MB, printTable, rssSampler, timed } from './bench-helpers.js';

function noiseJpeg(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
}

const overBaseline = (peak: number, baseline: number) => `${((peak - baseline) / MB).toFixed(0)} MB`;

async function s3Rows(rows: string[][]): Promise<void> {
  // A 200 MB object streamed up (multipart) and down, against s3rver in another process.
  const s3rver = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', path.join(import.meta.dirname, 's3rver-child.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((resolve) => s3rver.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
  const s3 = new S3Storage(s3Settings(endpoint, 'bench'));
  try {
    const size = 200 * MB;
    const chunk = Buffer.alloc(MB, 7);
    const baseline = process.memoryUsage().rss;
    let sampler = rssSampler();
    let t0 = performance.now();
    await s3.put('images/be/nch.jpg', Readable.from((function* () {
      for (let i = 0; i < size / MB; i++) yield chunk;
    })()));
    let seconds = (performance.now() - t0) / 1000;
    let peak = sampler.stop();
    rows.push(['S3 put 200 MB stream (multipart, 8 MiB parts)', `${(size / MB / seconds).toFixed(0)} MB/s`, `${(seconds * 1000).toFixed(0)} ms`, '-', overBaseline(peak, baseline)]);
    sampler = rssSampler();
    t0 = performance.now();
    let received = 0;
    for await (const part of await s3.get('images/be/nch.jpg')) received += (part as Buffer).length;
    seconds = (performance.now() - t0) / 1000;
    peak = sampler.stop();
    if (received !== size) throw new Error(`S3 get returned ${received} bytes`);
    rows.push(['S3 get 200 MB stream', `${(size / MB / seconds).toFixed(0)} MB/s`, `${(seconds * 1000).toFixed(0)} ms`, '-', overBaseline(peak, baseline)]);
  } finally {
    s3.destroy();
    s3rver.kill('SIGTERM');
  }
}

async function run(options: { quick: boolean }): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-'));
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: url, MAX_UPLOAD_BYTES: String(40 * MB), MAX_IMAGE_PIXELS: '100000000' });
  const runtime = await prepareRuntime(config);
  server.on('request', createApp(createContainer({ config, logger: pino({ level: 'silent' }), ...runtime })));
  try {
    const rows: string[][] = [];
    const photo = await noiseJpeg(2400, 1600); // ~4 MP, a typical phone-photo size after compression
    const big = await noiseJpeg(5000, 5000); // 25 MP of noise: close to the 25 MB default limit
    const photos = options.quick ? 10 : 40;
    console.log(`  In-process (client and server share one process), IMAGE_CONCURRENCY=${config.imageConcurrency}, database=${runtime.db.dialect}`);

    const baseline = process.memoryUsage().rss;
    let sampler = rssSampler();
    const ups = await timed(photos, 4, async () => {
      const res = await upload(url, { bytes: photo });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status}`);
    });
    let peak = sampler.stop();
    rows.push([`upload ${(photo.length / MB).toFixed(1)} MB JPEG ×${photos}, 4 at once`, `${ups.perSecond.toFixed(1)}/s`, `${ups.p50.toFixed(0)} ms`, `${ups.p95.toFixed(0)} ms`, overBaseline(peak, baseline)]);

    sampler = rssSampler();
    const bigUps = await timed(4, 2, async () => {
      const res = await upload(url, { bytes: big });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.body.toString()}`);
    });
    peak = sampler.stop();
    rows.push([`upload ${(big.length / MB).toFixed(1)} MB / 25 MP JPEG ×4, 2 at once`, `${bigUps.perSecond.toFixed(2)}/s`, `${bigUps.p50.toFixed(0)} ms`, `${bigUps.p95.toFixed(0)} ms`, overBaseline(peak, baseline)]);

    const one = (await upload(url, { bytes: photo })).json() as { url: string; thumbnailUrl: string };
    sampler = rssSampler();
    const downs = await timed(400, 16, async (i) => {
      const res = await rawRequest(i % 2 ? one.url : one.thumbnailUrl);
      if (res.status !== 200) throw new Error(`download failed: ${res.status}`);
    });
    peak = sampler.stop();
    rows.push(['download image/thumbnail ×400, 16 at once', `${downs.perSecond.toFixed(0)}/s`, `${downs.p50.toFixed(1)} ms`, `${downs.p95.toFixed(1)} ms`, overBaseline(peak, baseline)]);

    // The hash blocklist: both content hashes of an upload (one more decode of it), then the match against
    // 10 000 entries (an indexed exact lookup, then a scan of the perceptual hashes).
    const hashInput = path.join(dataDir, 'hash-input.jpg');
    await fs.writeFile(hashInput, big);
    sampler = rssSampler();
    const hashing = await timed(4, 1, () => contentHashes(hashInput, { maxPixels: config.maxImagePixels, workDir: dataDir }));
    peak = sampler.stop();
    rows.push(['content hashes of a 25 MP JPEG ×4, one at a time', `${hashing.perSecond.toFixed(2)}/s`, `${hashing.p50.toFixed(0)} ms`, `${hashing.p95.toFixed(0)} ms`, overBaseline(peak, baseline)]);
    const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
    await runtime.db.batchInsert('hash_blocklist', Array.from({ length: 10_000 }, (_, i) => ({ id: `bench-${i}`, pixel_sha256: hex(64), phash: hex(16), created_at: new Date() })), 500);
    const matching = await timed(50, 1, () => isBlocked(createRepos(runtime.db), { pixelSha256: hex(64), phash: hex(16) }, config.blocklistMatchDistance));
    rows.push(['blocklist match against 10 000 entries ×50', `${matching.perSecond.toFixed(0)}/s`, `${matching.p50.toFixed(1)} ms`, `${matching.p95.toFixed(1)} ms`, '-']);

    await s3Rows(rows);
    printTable(['scenario', 'throughput', 'p50', 'p95', 'peak RSS over baseline'], rows);
    console.log('  (the client runs in the same process, so the RSS figures include the test client holding its request bodies)');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await runtime.db.destroy();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await run({ quick: process.env.BENCH_QUICK === '1' });
