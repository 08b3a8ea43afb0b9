import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, REPO_ROOT, spawnChild, type Child } from './child-process.js';

/** Debian's nginx binary (packages nginx-light, nginx or nginx-full). */
export const NGINX_BINARY = '/usr/sbin/nginx';

/** The operator's example the tests run, so the shipped file is the one proven to work. */
export const NGINX_EXAMPLE = path.join(REPO_ROOT, 'docker/nginx/pixbin.conf.example');

export type RunningNginx = {
  /** Base URL of nginx on loopback, e.g. http://127.0.0.1:41234. */
  url: string;
  /** nginx's error log so far (for assertion messages). */
  errorLog: () => Promise<string>;
  /** Kills nginx and removes its folder; safe to call twice. */
  stop: () => Promise<void>;
};

/** Replaces exactly one match of pattern, or throws naming what the example no longer contains. */
function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  const matches = text.match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`));
  if (matches?.length !== 1) throw new Error(`${NGINX_EXAMPLE}: expected exactly one ${what} (found ${matches?.length ?? 0})`);
  return text.replace(pattern, replacement);
}

/**
 * The example's server block made runnable on loopback: plain HTTP on the given port (its TLS lines dropped),
 * proxying to the given Pixbin, with the internal location aliasing the given storage folder.
 */
export function serverBlockFromExample(example: string, options: { port: number; upstream: string; storageRoot: string; prefix?: string }): string {
  let conf = replaceOnce(example, /^\s*listen\s+[^;]*;.*$/m, `    listen 127.0.0.1:${options.port};`, '`listen` line');
  conf = conf.replace(/^\s*ssl_\w+\s+[^;]*;.*$\n/gm, '');
  conf = replaceOnce(conf, /proxy_pass http:\/\/127\.0\.0\.1:3000;/, `proxy_pass ${options.upstream.replace(/\/$/, '')};`, '`proxy_pass http://127.0.0.1:3000;`');
  conf = replaceOnce(conf, /alias \/var\/lib\/pixbin\/storage\/;/, `alias ${options.storageRoot.replace(/\/?$/, '/')};`, '`alias /var/lib/pixbin/storage/;`');
  if (options.prefix) conf = replaceOnce(conf, /location \/_pixbin_files\/ \{/, `location ${options.prefix} {`, '`location /_pixbin_files/ {`');
  return conf;
}

async function assertInstalled(): Promise<void> {
  try {
    await fs.access(NGINX_BINARY, constants.X_OK);
  } catch {
    throw new Error(`nginx is not installed (no ${NGINX_BINARY}): the proxy offload tests need Debian's nginx, e.g. \`apt-get install nginx-light\``);
  }
}

/** Resolves once something accepts connections on port, or rejects when nginx exits first or the time is up. */
async function waitForPort(port: number, child: Child, errorLog: () => Promise<string>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true), () => (exited = true));
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (exited || Date.now() > deadline) {
      throw new Error(`nginx did not start on 127.0.0.1:${port}${child.stderr()}\n--- error log ---\n${await errorLog()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs Debian's nginx on a free loopback port, in the foreground as the current user, with the server block of
 * docker/nginx/pixbin.conf.example in front of upstream; its pid file, logs and temp folders live in a fresh
 * temporary folder. Fails, naming the package, when nginx is not installed.
 */
export async function startNginx(options: { upstream: string; storageRoot: string; prefix?: string }): Promise<RunningNginx> {
  await assertInstalled();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-nginx-'));
  const port = await freePort();
  const errorLogPath = path.join(dir, 'error.log');
  const server = serverBlockFromExample(await fs.readFile(NGINX_EXAMPLE, 'utf8'), { port, ...options });
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${path.join(dir, kind)};`).join('\n');
  const conf = [
    // One process, as the current user: no workers switching to another user that could not read the test's files.
    'daemon off;',
    'master_process off;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${errorLogPath} info;`,
    'events { worker_connections 64; }',
    'http {',
    '    access_log off;',
    temp,
    server,
    '}',
    '',
  ].join('\n');
  const confPath = path.join(dir, 'nginx.conf');
  await fs.writeFile(confPath, conf);
  const errorLog = () => fs.readFile(errorLogPath, 'utf8').catch(() => '');
  const child = spawnChild(NGINX_BINARY, ['-p', `${dir}/`, '-e', errorLogPath, '-c', confPath], {});
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
      await child.exited.catch(() => undefined);
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, errorLog);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, errorLog, stop };
}
