import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fixtures } from '../fixtures/images.js';
import { freePort, killAllChildren, spawnTs, type Child } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';

// The embedded (SQLite) mode's backup and restore, end to end with real server processes.
describe('npm run backup / restore (embedded SQLite mode)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-backup-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    killAllChildren();
    for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  });

  const startServer = async (dataDir: string): Promise<{ child: Child; url: string }> => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir });
    await child.waitUntil(() => child.logs().some((l) => l.msg === 'Pixbin is listening'), 60_000, 'listening');
    return { child, url };
  };
  const stop = async (child: Child) => {
    child.process.kill('SIGTERM');
    expect((await child.waitForExit(20_000)).code).to.equal(0);
  };
  const cli = async (args: string[], dataDir: string) => {
    const run = spawnTs('server/cli/backup.ts', { DATA_DIR: dataDir }, args);
    return { exit: await run.waitForExit(60_000), out: run.stdout() + run.stderr() };
  };

  it('backs up while the server runs, and a restore into an empty DATA_DIR serves the same images', async () => {
    const original = await tempDir();
    const { child, url } = await startServer(original);
    const res = await upload(url, { bytes: await fixtures.png() });
    expect(res.status).to.equal(201);
    const { id, url: imageUrl, deleteUrl } = res.json();
    const bytes = (await rawRequest(imageUrl)).body;

    const backupDir = path.join(await tempDir(), 'backup');
    const made = await cli(['backup', backupDir], original);
    expect(made.exit.code, made.out).to.equal(0);
    await stop(child);
    expect((await fs.readdir(backupDir)).sort()).to.deep.equal(['pixbin-backup.json', 'pixbin.sqlite', 'storage']);
    expect((await cli(['backup', backupDir], original)).out, 'never overwrites a backup').to.include('not empty');

    const restored = await tempDir();
    const back = await cli(['restore', backupDir], restored);
    expect(back.exit.code, back.out).to.equal(0);
    expect((await cli(['restore', backupDir], restored)).out, 'never overwrites a database without --force').to.include('--force');

    const again = await startServer(restored);
    try {
      const port = new URL(again.url).port;
      const served = await rawRequest(imageUrl.replace(/:\d+\//, `:${port}/`));
      expect(served.status).to.equal(200);
      expect(served.body.equals(bytes)).to.equal(true);
      const del = await rawRequest(deleteUrl.replace(/:\d+\//, `:${port}/`), { method: 'POST', headers: { Accept: 'application/json' } });
      expect(del.json(), `delete ${id} with its original key`).to.deep.equal({ deleted: true });
    } finally {
      await stop(again.child);
    }
  });

  it('refuses with a clear message when DATABASE_URL is set, or when the folder is not a backup', async () => {
    const dir = await tempDir();
    const pgRun = spawnTs('server/cli/backup.ts', { DATA_DIR: dir, DATABASE_URL: 'postgres://u@127.0.0.1:9/x' }, ['backup', path.join(dir, 'b')]);
    expect((await pgRun.waitForExit(30_000)).code).to.equal(1);
    expect(pgRun.stderr()).to.include('pg_dump');
    const notBackup = await cli(['restore', dir], await tempDir());
    expect(notBackup.exit.code).to.equal(1);
    expect(notBackup.out).to.include('not a Pixbin backup');
  });
});
