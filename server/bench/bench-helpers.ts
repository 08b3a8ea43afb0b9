/** Small pieces every bench shares: test images, timing, percentiles, RSS sampling and table printing. */
import { readFileSync, readdirSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';

export const MB = 1024 * 1024;

export type BenchOptions = {
  /** BENCH_QUICK=1: shorter runs and smaller data, for a smoke test of the bench itself. */
  quick: boolean;
  /** Seconds per wrk run (BENCH_WRK_SECONDS). */
  wrkSeconds: number;
};

export type Bench = { name: string; title: string; run: (options: BenchOptions) => Promise<void> };

/**
 * A photo-like test image: smooth colour gradients plus pseudo-random noise of the given amplitude, so JPEG sizes
 * land where real photos do (pure noise is far larger, flat colour far smaller). The seed makes each copy distinct.
 */
export function photoLike(width: number, height: number, seed: number, noise: number): Sharp {
  const pixels = new Uint8ClampedArray(width * height * 3); // clamps to 0..255 where a Buffer would wrap around
  let state = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      const n = ((state & 0xff) / 255 - 0.5) * 2 * noise;
      pixels[i++] = 40 + (x / width) * 170 + n;
      pixels[i++] = 30 + (y / height) * 180 + n * 0.8;
      pixels[i++] = 200 - ((x + y) / (width + height)) * 160 + n * 1.2;
    }
  }
  return sharp(Buffer.from(pixels.buffer), { raw: { width, height, channels: 3 } });
}

/**
 * A JPEG whose re-encode at `encode` (what Pixbin stores) is close to targetBytes: the side is scaled by the square
 * root of the size ratio until within 10 %.
 */
export async function jpegNear(targetBytes: number, seed: number, encode: (image: Sharp) => Sharp): Promise<Buffer> {
  let side = Math.round(Math.sqrt(targetBytes / 1.5));
  let best: Buffer | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const width = Math.round(side * 1.5);
    const source = await photoLike(width, side, seed, 60).jpeg({ quality: 92 }).toBuffer();
    const stored = await encode(sharp(source)).toBuffer();
    best = source;
    const ratio = targetBytes / stored.length;
    if (Math.abs(1 - ratio) < 0.1) break;
    side = Math.max(16, Math.round(side * Math.sqrt(ratio)));
  }
  return best!;
}

export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Runs count tasks, concurrency at a time; wall time and latency percentiles in ms. */
export async function timed<T>(count: number, concurrency: number, task: (i: number) => Promise<T>) {
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
  return { seconds, perSecond: count / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies[latencies.length - 1]! };
}

/** This process's peak RSS, sampled every 10 ms. */
export function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return { stop: () => (clearInterval(timer), peak) };
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function rssOfPid(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // the process just exited
  }
}

/** Every process below pid, from /proc. */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = childrenOf(pid);
  while (queue.length) {
    const next = queue.pop()!;
    found.push(next);
    queue.push(...childrenOf(next));
  }
  return found;
}

/** RSS of a process and all its descendants (a server that forks workers is measured whole), from /proc. */
export function treeRss(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + rssOfPid(p), 0);
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux build node runs on

function cpuSecondsOfPid(pid: number): number {
  try {
    // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces, so count from its ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0; // the process just exited
  }
}

/**
 * CPU seconds (user + system, every thread) a process and its descendants have used so far, from /proc. A
 * difference of two readings is the work done between them, which other load on the machine does not inflate
 * the way it inflates wall time.
 */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + cpuSecondsOfPid(p), 0);
}

/** Peak RSS of another process tree, sampled every 10 ms. */
export function treeRssSampler(pid: number) {
  let peak = treeRss(pid);
  const timer = setInterval(() => (peak = Math.max(peak, treeRss(pid))), 10);
  return { stop: () => (clearInterval(timer), peak) };
}

export const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;
export const ms = (value: number): string => (value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`);
export const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '-');

/** Prints rows as aligned columns under a header. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) console.log(`  ${row.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()}`);
}

export const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
