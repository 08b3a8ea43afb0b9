import { expect } from 'chai';
import fs from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDb } from '../../db/knex.js';
import { freePort, killAllChildren, spawnTs } from '../helpers/child-process.js';
import { rawRequest } from '../helpers/http.js';

/**
 * Issue 15, item 7: a second instance started on a busy port logged "Pixbin is listening" and kept running without
 * listening (Express 5 hands the listen error to the callback, which ignored it). The drill: another program holds
 * the port; Pixbin (server/main.ts, alone and as a cluster of two workers) must exit 98 with one fatal JSON line that
 * says the port is in use, fork no replacement, run no scheduled job; and start normally once the port is free.
 */

const START_TIMEOUT_MS = 60_000;
/** The exit status for "cannot listen" (98 is EADDRINUSE on Linux); configuration problems exit 78. */
const EXIT_CANNOT_LISTEN = 98;

async function occupy(port: number): Promise<Server> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}

describe('a taken port (fault drill)', function () {
  this.timeout(3 * START_TIMEOUT_MS);
  const dataDirs: string[] = [];
  const occupiers: Server[] = [];

  afterEach(async () => {
    killAllChildren();
    for (const server of occupiers.splice(0)) await new Promise((resolve) => server.close(resolve));
    for (const dir of dataDirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  });

  for (const workers of [1, 2]) {
    it(`WEB_CONCURRENCY=${workers}: exits ${EXIT_CANNOT_LISTEN} once, saying the port is in use, runs nothing; starts once the port is free`, async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-port-'));
      dataDirs.push(dataDir);
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const occupier = await occupy(port);
      occupiers.push(occupier);
      const env = { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'info', WEB_CONCURRENCY: String(workers) };

      // What the operator gets: a non-zero exit, and one fatal JSON line that names the port and the cause.
      const started = performance.now();
      const second = spawnTs('server/main.ts', env);
      const exit = await second.waitForExit(START_TIMEOUT_MS);
      const exitMs = Math.round(performance.now() - started);
      const output = `${second.stdout()}\n--- stderr ---\n${second.stderr()}`;
      expect(exit, output).to.deep.equal({ code: EXIT_CANNOT_LISTEN, signal: null });
      const fatal = second.logs().filter((l) => l.level === 60);
      expect(fatal.map((l) => l.msg), output).to.deep.equal([`port ${port} on 127.0.0.1 is in use (another Pixbin or another program is listening there)`]);
      expect(fatal[0], output).to.include({ code: 'EADDRINUSE', port });
      expect(second.logs().filter((l) => l.msg === 'Pixbin is listening' || /all \d+ workers are listening/.test(String(l.msg))), output).to.deep.equal([]);
      expect(second.logs().filter((l) => /starting a replacement/.test(String(l.msg))), 'no restart loop').to.deep.equal([]);
      expect(second.stderr(), 'nothing outside the JSON log').to.equal('');
      // The port's owner was not disturbed.
      expect(occupier.listening).to.equal(true);

      // Nothing left behind: a process that cannot serve ran no scheduled job.
      const db = createDb({ databaseUrl: undefined, dataDir });
      try {
        expect(await db('job_runs').count({ n: '*' }).first()).to.deep.equal({ n: 0 });
      } finally {
        await db.destroy();
      }

      // Recovery: once the port is free, the same command starts and serves (nothing to clean up first).
      await new Promise((resolve) => occupier.close(resolve));
      const freedAt = performance.now();
      const again = spawnTs('server/main.ts', env);
      const ready = workers > 1 ? (l: Record<string, unknown>) => /all \d+ workers are listening/.test(String(l.msg)) : (l: Record<string, unknown>) => l.msg === 'Pixbin is listening';
      await again.waitUntil(() => again.logs().some(ready), START_TIMEOUT_MS, 'listening log line');
      expect((await rawRequest(`${url}/healthz`)).status).to.equal(200);
      const recoveryMs = Math.round(performance.now() - freedAt);
      again.process.kill('SIGTERM');
      expect(await again.waitForExit(20_000)).to.deep.equal({ code: 0, signal: null });
      console.log(`      port in use, WEB_CONCURRENCY=${workers}: exited ${exit.code} after ${exitMs} ms; started and served ${recoveryMs} ms after the port was freed`);
    });
  }
});
