/**
 * Gallery pages with 100 000 images in one account, on SQLite and (when BENCH_DATABASE_URL or TEST_DATABASE_URL
 * names a server) on a scratch PostgreSQL database: p50/p95 of "My images", the public profile and album pages,
 * first and deep pages, and how many SQL queries each page costs, then the same for fetching all the page's
 * thumbnails as a browser would (6 at a time, with the page's cookies). Only the thumbnails the measured pages show
 * are stored (all the same bytes); every other row has no files. The app runs in this process so knex's query
 * event can count its queries.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import pino from 'pino';
import { createApp } from '../app.js';
import { prepareRuntime } from '../boot.js';
import { loadConfig } from '../config/config.js';
import { createContainer } from '../container.js';
import { toRow, type NewImage } from '../db/images.repo.js';
import { insertInBatches } from '../db/knex.js';
import { sha256Hex } from '../lib/hash.js';
import { newImageId, randomBase62 } from '../lib/ids.js';
import { encodeCursor } from '../services/account-images.service.js';
import { imageKeys } from '../storage/keys.js';
import { dropIdleConnections, rawRequest } from '../test/helpers/http.js';
import { createScratchPostgres } from '../test/helpers/scratch-db.js';
import { signUp } from './bench-account.js';
import { ms, percentile, photoLike, printTable, timed, type Bench, type BenchOptions } from './bench-helpers.js';

const PAGE = 60;
const VISIBILITY_MIX = ['public', 'public', 'public', 'public', 'public', 'public', 'unlisted', 'unlisted', 'unlisted', 'private'] as const;

const BROWSER_CONNECTIONS = 6;
const MIN_REQUESTS = 10;
const TIME_BOX_MS = 3000;

function imageRows(ownerId: string, count: number, thumb: Buffer): NewImage[] {
  const base = Date.UTC(2020, 0, 1);
  return Array.from({ length: count }, (_, i) => ({
    id: newImageId(),
    deleteKeyHash: sha256Hex(`key ${i}`),
    originalName: `IMG_${String(i).padStart(6, '0')}.jpg`,
    mime: 'image/jpeg',
    ext: 'jpg',
    size: 2_000_000 + ((i * 7919) % 3_000_000),
    width: 4000,
    height: 3000,
    frames: 1,
    sha256: sha256Hex(`image ${i}`),
    thumbSize: thumb.length, // every row shares one real thumbnail, stored for the rows the pages show
    thumbWidth: 400,
    thumbHeight: 300,
    thumbSha256: sha256Hex(thumb),
    createdAt: new Date(base + i * 60_000), // one a minute: distinct, in upload order
    ownerId,
    visibility: VISIBILITY_MIX[i % VISIBILITY_MIX.length]!,
    title: i % 3 === 0 ? `Holiday ${i}` : null,
    pixelSha256: sha256Hex(`pixels ${i}`),
    phash: (i * 2654435761).toString(16).padStart(16, '0').slice(-16),
  }));
}

type Page = { label: string; path: string; signedIn: boolean };

type QueryEvent = { __knexQueryUid: string; sql: string };

/** BENCH_SQL_TIMES=1: prints each statement of one page view with how long it took (the bench's profiling aid). */
function timeQueries(db: Knex, label: string): () => void {
  const started = new Map<string, number>();
  const onQuery = (q: QueryEvent) => void started.set(q.__knexQueryUid, performance.now());
  const onResponse = (_response: unknown, q: QueryEvent) => {
    const t0 = started.get(q.__knexQueryUid);
    if (t0 !== undefined) console.log(`    [${label}] ${ms(performance.now() - t0).padStart(9)}  ${q.sql.slice(0, 240)}`);
  };
  db.on('query', onQuery).on('query-response', onResponse);
  return () => void db.off('query', onQuery).off('query-response', onResponse);
}

async function benchDialect(label: string, databaseUrl: string | undefined, options: BenchOptions): Promise<string[][]> {
  const count = options.quick ? 20_000 : 100_000;
  const requests = options.quick ? 10 : 50;
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-bench-gallery-'));
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: url, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
  const runtime = await prepareRuntime(config);
  const db = runtime.db;
  server.on('request', createApp(createContainer({ config, logger: pino({ level: 'silent' }), ...runtime, bcryptCostForTests: 4 })));
  try {
    const owner = await signUp(url);
    const { id: ownerId } = (await db('users').where({ username_key: owner.username.toLowerCase() }).first('id')) as { id: string };
    const thumb = await photoLike(400, 300, 5, 30).webp({ quality: 80 }).toBuffer();
    const images = imageRows(ownerId, count, thumb);
    let t0 = performance.now();
    await db.transaction((trx) => insertInBatches(trx, 'images', images.map(toRow)));
    const small = randomBase62(16);
    const big = randomBase62(16);
    const now = new Date();
    await db('albums').insert([
      { id: small, owner_id: ownerId, title: 'Sixty', cover_image_id: null, created_at: now },
      { id: big, owner_id: ownerId, title: 'Everything', cover_image_id: null, created_at: now },
    ]);
    const shared = images.filter((i) => i.visibility !== 'private');
    const link = (albumId: string) => (i: NewImage) => ({ album_id: albumId, image_id: i.id, added_at: now, image_created_at: i.createdAt });
    const links = [...shared.slice(-PAGE).map(link(small)), ...images.map(link(big))];
    await db.transaction((trx) => insertInBatches(trx, 'album_images', links));
    const insertSeconds = (performance.now() - t0) / 1000;
    if (db.dialect === 'postgres') await db.raw('analyze');
    // SQLite's inserts blocked this process's event loop: the server may be closing the kept-alive sockets now.
    dropIdleConnections();

    // A deep page starts after the row halfway down the list, as a cursor from the previous page would.
    const newestFirst = [...images].reverse();
    const publicNewest = newestFirst.filter((i) => i.visibility === 'public');
    const cursor = (list: NewImage[]) => encodeCursor(list[Math.floor(list.length / 2)]!);
    const deepAlbumPage = Math.floor(shared.length / PAGE / 2);
    const pages: Page[] = [
      { label: 'My images, first page', path: '/account/images', signedIn: true },
      { label: 'My images, deep page (cursor)', path: `/account/images?after=${cursor(newestFirst)}`, signedIn: true },
      { label: 'profile /u/<name>, first page', path: `/u/${owner.username}`, signedIn: false },
      { label: 'profile, deep page (cursor)', path: `/u/${owner.username}?after=${cursor(publicNewest)}`, signedIn: false },
      { label: `album /a/<id> of ${PAGE}`, path: `/a/${small}`, signedIn: false },
      { label: `album of ${count}, first page`, path: `/a/${big}`, signedIn: false },
      { label: `album of ${count}, deep page (cursor)`, path: `/a/${big}?after=${cursor(shared.slice().reverse())}`, signedIn: false },
      { label: `album of ${count}, old link ?page=${deepAlbumPage}`, path: `/a/${big}?page=${deepAlbumPage}`, signedIn: false },
    ];
    const rows: string[][] = [];
    for (const page of pages) {
      const cookie: Record<string, string> = page.signedIn ? { Cookie: owner.client.cookieHeader() } : {};
      const headers = { Accept: 'text/html', ...cookie };
      const get = async () => {
        const res = await rawRequest(`${url}${page.path}`, { headers });
        if (res.status !== 200) throw new Error(`${page.label}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        return res;
      };
      let queries = 0;
      const onQuery = () => void (queries += 1);
      db.on('query', onQuery);
      const stopTiming = process.env.BENCH_SQL_TIMES === '1' ? timeQueries(db, page.label) : () => undefined;
      const sample = await get();
      stopTiming();
      const pageQueries = queries;
      const thumbIds = [...new Set([...sample.body.toString().matchAll(/\/t\/([0-9A-Za-z]{12})\.webp/g)].map((m) => m[1]!))];
      db.off('query', onQuery);
      for (const id of thumbIds) await runtime.storage.put(imageKeys({ id, ext: 'jpg' }).thumbnail, Readable.from([thumb]));
      db.on('query', onQuery);
      queries = 0;
      const thumbs = await timed(thumbIds.length, BROWSER_CONNECTIONS, async (i) => {
        const res = await rawRequest(`${url}/t/${thumbIds[i]}.webp`, { headers: { Accept: 'image/avif,image/webp,*/*', ...cookie } });
        if (res.status !== 200) throw new Error(`${page.label}: thumbnail ${res.status}`);
      });
      db.off('query', onQuery);
      for (let i = 0; i < 3; i++) await get(); // warm-up
      const latencies: number[] = [];
      const until = performance.now() + TIME_BOX_MS;
      // A slow page stops early (after at least MIN_REQUESTS) so one bad page cannot take minutes.
      while (latencies.length < requests && (latencies.length < MIN_REQUESTS || performance.now() < until)) {
        t0 = performance.now();
        await get();
        latencies.push(performance.now() - t0);
      }
      latencies.sort((a, b) => a - b);
      rows.push([
        label,
        page.label,
        String(latencies.length),
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 95)),
        String(pageQueries),
        `${(sample.body.length / 1024).toFixed(0)} KiB`,
        String(thumbIds.length),
        String(queries),
        ms(thumbs.seconds * 1000),
      ]);
    }
    console.log(`  ${label}: inserted ${count} image rows and ${links.length} album links in ${insertSeconds.toFixed(1)} s; ${requests} requests per page (at least ${MIN_REQUESTS}, then until ${TIME_BOX_MS / 1000} s), one at a time`);
    return rows;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await db.destroy();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function run(options: BenchOptions): Promise<void> {
  const rows = await benchDialect('SQLite', undefined, options);
  const pgServer = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (pgServer) {
    const scratch = await createScratchPostgres(pgServer);
    try {
      rows.push(...(await benchDialect('PostgreSQL', scratch.url, options)));
    } finally {
      await scratch.drop();
    }
  } else {
    console.log('  PostgreSQL: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL to a server where a scratch database may be created)');
  }
  printTable(['database', 'page', 'n', 'p50', 'p95', 'queries', 'HTML', 'thumbs', 'their queries', 'all thumbs'], rows);
  console.log(`  (n: requests timed; queries: SQL statements for one page view; thumbs: thumbnails on it, fetched ${BROWSER_CONNECTIONS} at a time with the page's cookies)`);
  console.log('  Goals (issue 14): p95 ≤ 50 ms for each page at 100 000 images; O(1) queries per page of thumbnails.');
}

export const galleryBench: Bench = { name: 'gallery', title: 'Gallery pages at 100 000 images', run };
