import { randomBytes } from 'node:crypto';
import path from 'node:path';
import sharp from 'sharp';
import { createDb } from '../../db/knex.js';
import { createRepos } from '../../db/repos.js';
import { createApiKey } from '../../services/api-keys.service.js';
import { API_SCOPES } from '../../services/caller.js';
import { freePort, spawnTs, type Child } from './child-process.js';
import { multipart, rawRequest, type RawResponse } from './http.js';
import { listFiles } from './test-app.js';
import { WebClient } from './web-client.js';

/** Pixbin as in production (server/main.ts in a child process) on SQLite in dataDir, local storage. */
export async function startPixbin(dataDir: string, env: Record<string, string> = {}): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, JOBS_ENABLED: 'false', LOG_LEVEL: 'info', ...env });
  await child.waitUntil(() => child.logs().some((l) => l.msg === 'Pixbin is listening'), 60_000, 'listening log line');
  return { child, url };
}

/** Signs up an account through the pages, confirms its address and makes it an API key with every scope (through the service). */
export async function apiKeyFor(url: string, dataDir: string): Promise<string> {
  const username = `drill${randomBytes(4).toString('hex')}`;
  const client = new WebClient(url);
  const signup = await client.post('/signup', { username, email: `${username}@example.test`, password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
  if (signup.status !== 200) throw new Error(`sign-up answered ${signup.status}: ${signup.body.toString().slice(0, 300)}`);
  const db = createDb({ databaseUrl: undefined, dataDir });
  try {
    const repos = createRepos(db);
    const user = (await repos.users.findByUsername(username))!;
    // As if the owner had followed the emailed link: unconfirmed accounts may not upload (UNVERIFIED_QUOTA_BYTES=0).
    await repos.users.markEmailVerified(user.id, user.email, new Date());
    return (await createApiKey({ repos, clock: () => new Date() }, user, { name: 'drill', scopes: [...API_SCOPES], lifetime: 'never' }, { ip: '127.0.0.1', userAgent: 'test' })).fullKey;
  } finally {
    await db.destroy();
  }
}

export function apiUpload(url: string, key: string, bytes: Buffer): Promise<RawResponse> {
  const { body, contentType } = multipart([{ name: 'file', value: bytes, filename: 'drill.jpg', contentType: 'image/jpeg' }]);
  return rawRequest(`${url}/api/v1/images`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': contentType, 'Content-Length': String(body.length) }, body });
}

/** A JPEG of random noise: big for its pixel count, and slow to encode. */
export async function noiseJpeg(width: number, height: number): Promise<Buffer> {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** Files (not the empty per-process folders) in DATA_DIR/tmp and storage/.tmp. */
export async function tempFiles(dataDir: string): Promise<string[]> {
  return [...(await listFiles(path.join(dataDir, 'tmp'))).map((f) => `tmp/${f}`), ...(await listFiles(path.join(dataDir, 'storage', '.tmp'))).map((f) => `storage/.tmp/${f}`)];
}

/** Image rows, and the stored objects (every file in storage/ outside .tmp). rows × 3 objects when nothing is orphaned. */
export async function rowsAndObjects(dataDir: string): Promise<{ rows: number; objects: string[] }> {
  const db = createDb({ databaseUrl: undefined, dataDir });
  try {
    const rows = Number((await db('images').count({ n: '*' }))[0]!.n);
    const objects = (await listFiles(path.join(dataDir, 'storage'))).filter((f) => !f.startsWith('.tmp/'));
    return { rows, objects };
  } finally {
    await db.destroy();
  }
}

export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, limitMs: number, what: string): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return { value, ms: Date.now() - started };
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a drill's child gracefully if it still runs. */
export async function stopChild(child: Child | null): Promise<void> {
  if (child && child.process.exitCode === null && child.process.signalCode === null) {
    child.process.kill('SIGTERM');
    await child.waitForExit(20_000).catch(() => undefined);
  }
}

