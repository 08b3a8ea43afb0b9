/**
 * `npm run bench`: upload and download throughput and memory, on the embedded SQLite default, in one process.
 * Goals (reported, not asserted by the test suite): a 25 MB upload must not raise peak RSS by anything near
 * 25 MB per concurrent upload (bytes are streamed to disk, never buffered whole), and downloads stream too.
 */
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { createApp } from '../app.js';
import { prepareRuntime } from '../boot.js';
import { loadConfig } from '../config/config.js';
import { rawRequest, upload } from '../test/helpers/http.js';

const MB = 1024 * 1024;

function noiseJpeg(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
}

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return { stop: () => (clearInterval(timer), peak) };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function timed<T>(count: number, concurrency: number, task: (i: number) => Promise<T>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, perSecond: count / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95) };
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-'));
const server = createServer();
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: url, MAX_UPLOAD_BYTES: String(40 * MB), MAX_IMAGE_PIXELS: '100000000' });
const runtime = await prepareRuntime(config);
server.on('request', createApp({ config, logger: pino({ level: 'silent' }), ...runtime }));

try {
  const rows: string[][] = [];
  const photo = await noiseJpeg(2400, 1600); // ~4 MP, a typical phone-photo size after compression
  const big = await noiseJpeg(5000, 5000); // 25 MP of noise: close to the 25 MB default limit
  console.log(`Node ${process.version}, ${os.cpus().length} CPUs, IMAGE_CONCURRENCY=${config.imageConcurrency}, database=${runtime.db.dialect}`);

  const baseline = process.memoryUsage().rss;
  let sampler = rssSampler();
  const ups = await timed(40, 4, async () => {
    const res = await upload(url, { bytes: photo });
    if (res.status !== 201) throw new Error(`upload failed: ${res.status}`);
  });
  let peak = sampler.stop();
  rows.push([`upload ${(photo.length / MB).toFixed(1)} MB JPEG ×40, 4 at once`, `${ups.perSecond.toFixed(1)}/s`, `${ups.p50.toFixed(0)} ms`, `${ups.p95.toFixed(0)} ms`, `${((peak - baseline) / MB).toFixed(0)} MB`]);

  sampler = rssSampler();
  const bigUps = await timed(4, 2, async () => {
    const res = await upload(url, { bytes: big });
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.body.toString()}`);
  });
  peak = sampler.stop();
  rows.push([`upload ${(big.length / MB).toFixed(1)} MB / 25 MP JPEG ×4, 2 at once`, `${bigUps.perSecond.toFixed(2)}/s`, `${bigUps.p50.toFixed(0)} ms`, `${bigUps.p95.toFixed(0)} ms`, `${((peak - baseline) / MB).toFixed(0)} MB`]);

  const one = (await upload(url, { bytes: photo })).json() as { url: string; thumbnailUrl: string };
  sampler = rssSampler();
  const downs = await timed(400, 16, async (i) => {
    const res = await rawRequest(i % 2 ? one.url : one.thumbnailUrl);
    if (res.status !== 200) throw new Error(`download failed: ${res.status}`);
  });
  peak = sampler.stop();
  rows.push(['download image/thumbnail ×400, 16 at once', `${downs.perSecond.toFixed(0)}/s`, `${downs.p50.toFixed(1)} ms`, `${downs.p95.toFixed(1)} ms`, `${((peak - baseline) / MB).toFixed(0)} MB`]);

  const header = ['scenario', 'throughput', 'p50', 'p95', 'peak RSS over baseline'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log('(the client runs in the same process, so the RSS figures include the test client holding its request bodies)');
} finally {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await runtime.db.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
}
