/**
 * The load generator (wrk) and the two reference servers Pixbin's serving is compared with: Debian's nginx and a
 * bare node:http server sending cached buffers, both serving the same files from one folder on loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort, spawnChild, type Child } from '../test/helpers/child-process.js';
import { rawRequest } from '../test/helpers/http.js';
import { sleep } from './bench-helpers.js';

export const INSTALL_HINT = 'apt-get install nginx-light wrk   (Debian/Ubuntu; as root or with sudo)';

/** The full path of an executable on PATH (or in /usr/sbin, which a non-root PATH often lacks), or null. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

export type WrkResult = { requestsPerSecond: number; p50Ms: number; p99Ms: number; transferPerSecond: string; problems: string[] };

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const latency = (text: string, label: string): number => {
  const match = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : NaN;
};

/** `wrk -t2 -c64 -d<seconds>s --latency`; problems lists non-2xx answers and socket errors, which void a figure. */
export function runWrk(wrk: string, url: string, seconds: number, headers: Record<string, string> = {}): Promise<WrkResult> {
  const args = ['-t2', '-c64', `-d${seconds}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  return new Promise((resolve, reject) => {
    const proc = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
      if (code !== 0 || !rps) return reject(new Error(`wrk failed (${code}) on ${url}:\n${out}`));
      const problems: string[] = [];
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      if (non2xx) problems.push(`${non2xx[1]} non-2xx answers`);
      const socket = /Socket errors:\s+(.*)/.exec(out);
      if (socket) problems.push(`socket errors: ${socket[1]}`);
      resolve({
        requestsPerSecond: Number(rps[1]),
        p50Ms: latency(out, '50%'),
        p99Ms: latency(out, '99%'),
        transferPerSecond: /^Transfer\/sec:\s+(\S+)/m.exec(out)?.[1] ?? '?',
        problems,
      });
    });
  });
}

export type RefServer = { url: string; note: string; stop: () => Promise<void> };

async function waitForHttp(url: string, child: Child, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let status: number | string = 'no answer';
  while ((status = (await rawRequest(url).catch(() => null))?.status ?? 'no answer') !== 200) {
    if (child.process.exitCode !== null || Date.now() > deadline) {
      child.process.kill('SIGKILL');
      throw new Error(`${what} did not serve ${url} (${status}):\n${child.stdout()}\n${child.stderr()}`);
    }
    await sleep(20);
  }
}

/**
 * nginx as a stock install would serve static files (worker_processes auto, sendfile, ETag), with access logging
 * off and keep-alive unlimited so the reference is as fast as nginx gets. Everything lives in workDir: no root needed.
 */
export async function startNginx(nginx: string, workDir: string, root: string, probePath: string): Promise<RefServer> {
  const port = await freePort();
  // Started as root, nginx's workers run as nobody: they must be able to read the folder mkdtemp made 0700.
  await fs.chmod(workDir, 0o755);
  const temp = path.join(workDir, 'temp');
  await fs.mkdir(temp, { recursive: true });
  const conf = path.join(workDir, 'nginx.conf');
  await fs.writeFile(
    conf,
    `worker_processes auto;
pid ${path.join(workDir, 'nginx.pid')};
error_log ${path.join(workDir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  types { image/jpeg jpg; image/webp webp; }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
`,
  );
  const child = spawnChild(nginx, ['-p', workDir, '-c', conf, '-e', path.join(workDir, 'error.log'), '-g', 'daemon off;'], {});
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}${probePath}`, child, 'nginx');
  const version = /nginx\/([\d.]+)/.exec(spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr)?.[1];
  return {
    url,
    note: `nginx${version ? ` ${version}` : ''}, worker_processes auto, sendfile`,
    stop: async () => {
      child.process.kill('SIGQUIT');
      await child.waitForExit(10_000).catch(() => undefined);
    },
  };
}

// Reads every file under the folder once; answers each GET from memory with the headers an image host sends.
const BARE_SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path'), crypto = require('node:crypto');
const root = process.argv[1];
const types = { '.jpg': 'image/jpeg', '.webp': 'image/webp' };
const files = new Map();
for (const name of fs.readdirSync(root, { recursive: true })) {
  const full = path.join(root, name);
  if (!fs.statSync(full).isFile()) continue;
  const body = fs.readFileSync(full);
  const etag = '"' + crypto.createHash('sha256').update(body).digest('hex').slice(0, 32) + '"';
  files.set('/' + name.split(path.sep).join('/'), { body, etag, type: types[path.extname(name)] || 'application/octet-stream' });
}
http.createServer((req, res) => {
  const file = files.get(req.url);
  if (!file) return res.writeHead(404).end();
  if (req.headers['if-none-match'] === file.etag) return res.writeHead(304, { ETag: file.etag }).end();
  res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, ETag: file.etag, 'Cache-Control': 'public, max-age=31536000, immutable' });
  res.end(file.body);
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

/** A single-process node:http server sending buffers it read at start: the ceiling for one Node process. */
export async function startBareNode(root: string, probePath: string): Promise<RefServer> {
  const child = spawnChild(process.execPath, ['-e', BARE_SERVER, root], {});
  await child.waitUntil(() => /\d+\n/.test(child.stdout()), 10_000, 'the bare node server port');
  const url = `http://127.0.0.1:${child.stdout().trim()}`;
  await waitForHttp(`${url}${probePath}`, child, 'the bare node server');
  return {
    url,
    note: `node:http, one process, ${process.version}`,
    stop: async () => {
      child.process.kill('SIGTERM');
      await child.waitForExit(10_000).catch(() => undefined);
    },
  };
}
