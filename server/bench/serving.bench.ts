/**
 * Serving, side by side in one run: nginx and a bare node:http server send the very bytes Pixbin stores, then
 * Pixbin answers its real URLs (/i/<id>.jpg public, unlisted and private with the owner's cookie; /t/<id>.webp).
 * Each path gets `wrk -t2 -c64` for the same time after a short warm-up; figures are ratios to nginx.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ENCODER_SETTINGS } from '../services/image-processing.service.js';
import { rawRequest } from '../test/helpers/http.js';
import { appEntry, startApp } from './app-child.js';
import { ownerUpload, setVisibility, signUp } from './bench-account.js';
import { jpegNear, ms, printTable, ratio, type Bench, type BenchOptions } from './bench-helpers.js';
import { findExecutable, INSTALL_HINT, runWrk, startBareNode, startNginx, type RefServer, type WrkResult } from './load-tools.js';

const SIZES = [
  { label: '~200 KB', slug: 'large', bytes: 200_000, seed: 1 },
  { label: '~20 KB', slug: 'small', bytes: 20_000, seed: 2 },
] as const;

type Target = { label: string; url: string; headers?: Record<string, string>; nginx: boolean; node: boolean };

async function measure(wrk: string, target: Target, options: BenchOptions): Promise<WrkResult> {
  if (!options.quick) await runWrk(wrk, target.url, 1, target.headers); // warm-up: JIT, caches, connections
  return runWrk(wrk, target.url, options.wrkSeconds, target.headers);
}

async function run(options: BenchOptions): Promise<void> {
  const wrk = findExecutable('wrk');
  const nginx = findExecutable('nginx');
  if (!wrk) {
    console.log(`  wrk is not installed: skipped. Install it (and nginx) with:\n    ${INSTALL_HINT}`);
    return;
  }
  if (!nginx) console.log(`  nginx is not installed: comparing with the bare node server only. Install it with:\n    ${INSTALL_HINT}`);

  const entry = appEntry();
  // The bench's owner never confirms its address: let it store as much as a confirmed account (UNVERIFIED_QUOTA_BYTES).
  const app = await startApp(entry, { UNVERIFIED_QUOTA_BYTES: String(1024 ** 3) });
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-serving-'));
  const www = path.join(workDir, 'www');
  const refs: RefServer[] = [];
  try {
    console.log(`  Pixbin: ${entry.note}`);
    const owner = await signUp(app.url);
    const cookie = { Cookie: owner.client.cookieHeader() };
    const groups: Array<{ label: string; imageBytes: number; thumbBytes: number; targets: Target[] }> = [];
    for (const size of SIZES) {
      const source = await jpegNear(size.bytes, size.seed, (image) => image.jpeg(ENCODER_SETTINGS.jpeg));
      const ids: Record<string, string> = {};
      for (const visibility of ['public', 'unlisted', 'private'] as const) {
        const image = await ownerUpload(owner, source);
        await setVisibility(owner, image.id, visibility);
        ids[visibility] = image.id;
      }
      // The reference servers get exactly the bytes Pixbin serves for this image and its thumbnail.
      const image = await rawRequest(`${app.url}/i/${ids.public}.jpg`);
      const thumb = await rawRequest(`${app.url}/t/${ids.public}.webp`);
      if (image.status !== 200 || thumb.status !== 200) throw new Error(`Pixbin did not serve its own upload (${image.status}, ${thumb.status})`);
      await fs.mkdir(path.join(www, size.slug), { recursive: true });
      await fs.writeFile(path.join(www, size.slug, 'image.jpg'), image.body);
      await fs.writeFile(path.join(www, size.slug, 'thumb.webp'), thumb.body);
      for (const [visibility, headers] of [['unlisted', {}], ['private', cookie]] as const) {
        const same = await rawRequest(`${app.url}/i/${ids[visibility]}.jpg`, { headers });
        if (same.status !== 200 || !same.body.equals(image.body)) throw new Error(`the ${visibility} copy was not served identically (${same.status})`);
      }
      const stranger = await rawRequest(`${app.url}/i/${ids.private}.jpg`);
      if (stranger.status !== 404) throw new Error(`a private image answered ${stranger.status} without its owner's cookie`);
      groups.push({
        label: size.label,
        imageBytes: image.body.length,
        thumbBytes: thumb.body.length,
        targets: [
          { label: 'image: nginx', url: `/${size.slug}/image.jpg`, nginx: true, node: false },
          { label: 'image: bare node:http', url: `/${size.slug}/image.jpg`, nginx: false, node: true },
          { label: 'image: Pixbin /i/<id>.jpg public', url: `${app.url}/i/${ids.public}.jpg`, nginx: false, node: false },
          { label: 'image: Pixbin /i/<id>.jpg unlisted', url: `${app.url}/i/${ids.unlisted}.jpg`, nginx: false, node: false },
          { label: 'image: Pixbin /i/<id>.jpg private+cookie', url: `${app.url}/i/${ids.private}.jpg`, headers: cookie, nginx: false, node: false },
          { label: 'thumb: nginx', url: `/${size.slug}/thumb.webp`, nginx: true, node: false },
          { label: 'thumb: bare node:http', url: `/${size.slug}/thumb.webp`, nginx: false, node: true },
          { label: 'thumb: Pixbin /t/<id>.webp public', url: `${app.url}/t/${ids.public}.webp`, nginx: false, node: false },
        ],
      });
    }

    const nginxServer = nginx ? await startNginx(nginx, workDir, www, '/large/image.jpg') : null;
    const nodeServer = await startBareNode(www, '/large/image.jpg');
    refs.push(...(nginxServer ? [nginxServer] : []), nodeServer);
    console.log(`  References: ${refs.map((r) => r.note).join('; ')}`);
    console.log(`  Load: wrk -t2 -c64 -d${options.wrkSeconds}s --latency, each path in turn${options.quick ? '' : ' after a 1 s warm-up'}; ${os.cpus().length} CPUs shared by wrk and the server`);

    const rows: string[][] = [];
    const problems: string[] = [];
    for (const group of groups) {
      const results = new Map<string, WrkResult>();
      for (const target of group.targets) {
        if (target.nginx && !nginxServer) continue;
        const url = target.nginx ? `${nginxServer!.url}${target.url}` : target.node ? `${nodeServer.url}${target.url}` : target.url;
        const result = await measure(wrk, { ...target, url }, options);
        results.set(target.label, result);
        if (result.problems.length) problems.push(`${group.label} ${target.label}: ${result.problems.join(', ')}`);
      }
      for (const [label, result] of results) {
        const kind = label.split(':')[0]!;
        const refNginx = results.get(`${kind}: nginx`);
        const refNode = results.get(`${kind}: bare node:http`)!;
        const bytes = kind === 'image' ? group.imageBytes : group.thumbBytes;
        rows.push([
          group.label,
          label,
          `${(bytes / 1024).toFixed(1)} KiB`,
          result.requestsPerSecond.toFixed(0),
          ms(result.p99Ms),
          refNginx ? ratio(result.requestsPerSecond / refNginx.requestsPerSecond) : '-',
          refNginx ? ratio(result.p99Ms / refNginx.p99Ms) : '-',
          ratio(result.requestsPerSecond / refNode.requestsPerSecond),
        ]);
      }
    }
    printTable(['source', 'path', 'bytes', 'req/s', 'p99', 'req/s ÷ nginx', 'p99 ÷ nginx p99', 'req/s ÷ node'], rows);
    console.log('  Goals (issue 14): ≥ 0.50× nginx at ~200 KB, ≥ 0.40× at ~20 KB, p99 ≤ 2× nginx p99; private within 2× of public.');
    for (const problem of problems) console.log(`  WARNING: ${problem} (that figure is not a fair one)`);
  } finally {
    for (const ref of refs) await ref.stop();
    await app.stop();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

export const servingBench: Bench = { name: 'serving', title: 'Serving: Pixbin vs nginx vs bare node:http', run };
