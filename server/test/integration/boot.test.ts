import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BootError, prepareRuntime, type Runtime } from '../../boot.js';
import { loadConfig } from '../../config/config.js';
import { createDb } from '../../db/knex.js';
import { migrateToLatest } from '../../db/migrate.js';
import { StorageError } from '../../storage/storage.js';
import { freePort, killAllChildren, spawnChild, spawnTs, type Child } from '../helpers/child-process.js';
import { connect } from 'node:net';
import { fixtures } from '../fixtures/images.js';
import { multipart, rawRequest } from '../helpers/http.js';
import { APP_TABLES, appTables, createScratchPostgres, MIGRATION_NAMES } from '../helpers/scratch-db.js';
import { listFiles } from '../helpers/test-app.js';
import { testDatabase } from '../helpers/test-db.js';

const MIGRATIONS = MIGRATION_NAMES;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const TURNSTILE_OFF = /TURNSTILE_SECRET_KEY is not set/;

async function bootFailure(env: Record<string, string>): Promise<Error> {
  const started = Date.now();
  const runtime = await prepareRuntime(loadConfig(env)).catch((err: unknown) => err as Error);
  if (!(runtime instanceof Error)) {
    await runtime.db.destroy();
    expect.fail('prepareRuntime should have failed');
  }
  expect(Date.now() - started, 'fails fast').to.be.below(5000);
  return runtime;
}

describe('boot', () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-boot-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    killAllChildren();
    await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
  });

  describe('prepareRuntime', () => {
    it('refuses a DATA_DIR that is a regular file, or lies under one, naming DATA_DIR', async () => {
      const file = path.join(await tempDir(), 'not-a-folder');
      await fs.writeFile(file, 'x');
      for (const dataDir of [file, path.join(file, 'data')]) {
        const err = await bootFailure({ DATA_DIR: dataDir });
        expect(err, dataDir).to.be.instanceOf(BootError);
        expect(err.message).to.match(/^DATA_DIR: /).and.include(dataDir);
      }
    });

    it('refuses a DATA_DIR whose storage folder or SQLite file cannot be used, naming DATA_DIR', async () => {
      const storageBlocked = await tempDir();
      await fs.writeFile(path.join(storageBlocked, 'storage'), 'x');
      const storageErr = await bootFailure({ DATA_DIR: storageBlocked });
      expect(storageErr).to.be.instanceOf(StorageError); // main.ts exits 78 for it, as for a BootError
      expect(storageErr.message).to.match(/^DATA_DIR: /);

      const sqliteBlocked = await tempDir();
      await fs.mkdir(path.join(sqliteBlocked, 'pixbin.sqlite'));
      const sqliteErr = await bootFailure({ DATA_DIR: sqliteBlocked });
      expect(sqliteErr).to.be.instanceOf(BootError);
      expect(sqliteErr.message).to.match(/^DATA_DIR: cannot prepare the SQLite database/);
    });

    it('refuses a database migrated by a newer Pixbin, with a message saying so', async () => {
      const dataDir = await tempDir();
      const db = createDb({ databaseUrl: undefined, dataDir });
      try {
        await migrateToLatest(db);
        await db('knex_migrations').insert({ name: '20991231000000_from_the_future', batch: 99, migration_time: new Date() });
      } finally {
        await db.destroy();
      }
      const err = await bootFailure({ DATA_DIR: dataDir });
      expect(err).to.be.instanceOf(BootError);
      expect(err.message).to.equal(
        'DATA_DIR: cannot prepare the SQLite database: the database was migrated by a newer Pixbin (unknown migration 20991231000000_from_the_future); run that version or newer, never an older image, against it',
      );
    });

    it('fails fast on an unreachable DATABASE_URL, naming it without revealing the password', async () => {
      const err = await bootFailure({ DATA_DIR: await tempDir(), DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:9/x' });
      expect(err).to.be.instanceOf(BootError);
      expect(err.message).to.match(/^DATABASE_URL: /);
      expect(err.message).not.to.include('s3cret');
      expect(err.stack ?? '').not.to.include('s3cret');
    });

    it('migrates a fresh database, with or without a callback, and reports what it applied', async () => {
      const dataDir = await tempDir();
      const first = await prepareRuntime(loadConfig({ DATA_DIR: dataDir }));
      try {
        expect(await appTables(first.db)).to.deep.equal(APP_TABLES);
      } finally {
        await first.db.destroy();
      }
      const again: string[][] = [];
      const second = await prepareRuntime(loadConfig({ DATA_DIR: dataDir }), (applied) => again.push(applied));
      await second.db.destroy();
      expect(again, 'already up to date').to.deep.equal([[]]);

      const reported: string[][] = [];
      const fresh = await prepareRuntime(loadConfig({ DATA_DIR: await tempDir() }), (applied) => reported.push(applied));
      await fresh.db.destroy();
      expect(reported).to.deep.equal([MIGRATIONS]);
    });

    it('removes stale files (over an hour old) from the upload temp folder and the storage .tmp folder, and nothing else', async () => {
      const dataDir = await tempDir();
      const stale = ['tmp/upload-abc123', 'tmp/work/thumb.webp', 'storage/.tmp/Xy12.part', 'storage/.tmp/probe-old'];
      const kept = ['storage/ab/abcdefghijkl.webp', 'storage/ab/abcdefghijkl.thumb.webp'];
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const file of [...stale, ...kept]) {
        await fs.mkdir(path.dirname(path.join(dataDir, file)), { recursive: true });
        await fs.writeFile(path.join(dataDir, file), file);
      }
      for (const entry of ['tmp/upload-abc123', 'tmp/work', 'storage/.tmp/Xy12.part', 'storage/.tmp/probe-old']) {
        await fs.utimes(path.join(dataDir, entry), old, old);
      }
      // Another replica's upload, written a moment ago, survives this one's start.
      await fs.writeFile(path.join(dataDir, 'tmp', 'in-progress.upload'), 'x');
      const { databaseUrl } = testDatabase();
      let runtime: Runtime | undefined;
      try {
        runtime = await prepareRuntime(loadConfig({ DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }));
        expect(runtime.tempDir).to.equal(path.join(dataDir, 'tmp'));
        expect(await listFiles(path.join(dataDir, 'tmp'))).to.deep.equal(['in-progress.upload']);
        expect(await fs.readdir(path.join(dataDir, 'storage', '.tmp'))).to.deep.equal([]);
        expect(await listFiles(path.join(dataDir, 'storage'))).to.deep.equal(['ab/abcdefghijkl.thumb.webp', 'ab/abcdefghijkl.webp']);
      } finally {
        await runtime?.db.destroy();
      }
    });
  });

  describe('the server process', function () {
    this.timeout(60_000);

    const startServer = async (env: Record<string, string>): Promise<{ child: Child; url: string }> => {
      const port = await freePort();
      const child = spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), ...env });
      await child.waitUntil(() => child.logs().some((l) => l.msg === 'Pixbin is listening'), START_TIMEOUT_MS, 'listening log line');
      return { child, url: `http://127.0.0.1:${port}` };
    };

    const stopServer = async (child: Child): Promise<void> => {
      const started = Date.now();
      child.process.kill('SIGTERM');
      const exit = await child.waitForExit(STOP_TIMEOUT_MS);
      expect(exit, child.stderr()).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - started).to.be.below(STOP_TIMEOUT_MS);
      expect(child.logs().map((l) => l.msg)).to.include('stopped');
    };

    it('exits 78 naming PORT when PORT is not a number', async () => {
      const child = spawnTs('server/main.ts', { DATA_DIR: await tempDir(), PORT: 'abc' });
      const exit = await child.waitForExit(START_TIMEOUT_MS);
      expect(exit.code, child.stderr()).to.equal(78);
      expect(child.stderr()).to.match(/^pixbin: Invalid configuration:/).and.match(/\bPORT: /);
      expect(child.stderr()).not.to.match(/\n\s+at /); // a message, not a stack trace
    });

    it('in the container (PIXBIN_ON_CONFIG_ERROR=wait) stays up answering 503 with the reason instead of exiting into a restart loop', async () => {
      const file = path.join(await tempDir(), 'file');
      await fs.writeFile(file, 'x');
      for (const [env, named] of [
        [{ MAX_UPLOAD_BYTES: 'lots' }, 'MAX_UPLOAD_BYTES'],
        [{ DATA_DIR: file }, 'DATA_DIR'],
      ] as const) {
        const port = await freePort();
        const child = spawnTs('server/main.ts', { PIXBIN_ON_CONFIG_ERROR: 'wait', HOST: '127.0.0.1', PORT: String(port), DATA_DIR: await tempDir(), ...env });
        let res: Awaited<ReturnType<typeof rawRequest>> | undefined;
        const deadline = Date.now() + START_TIMEOUT_MS;
        while (!res && Date.now() < deadline) {
          res = await rawRequest(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
          if (!res) await new Promise((r) => setTimeout(r, 100));
        }
        expect(res?.status, child.stderr() + child.stdout()).to.equal(503);
        expect(res!.json().error.message).to.include(named);
        expect(child.process.exitCode, 'still running').to.equal(null);
        child.process.kill('SIGTERM');
        expect(await child.waitForExit(STOP_TIMEOUT_MS)).to.deep.equal({ code: 0, signal: null });
      }
    });

    it('exits 78 on boot errors: DATA_DIR unusable, DATABASE_URL unreachable (password never printed)', async () => {
      const file = path.join(await tempDir(), 'file');
      await fs.writeFile(file, 'x');
      const badDir = spawnTs('server/main.ts', { DATA_DIR: file, PORT: String(await freePort()) });
      expect((await badDir.waitForExit(START_TIMEOUT_MS)).code, badDir.stderr()).to.equal(78);
      expect(badDir.logs().find((l) => l.level === 60)?.msg).to.match(/^DATA_DIR: /);

      const badDb = spawnTs('server/main.ts', {
        DATA_DIR: await tempDir(),
        PORT: String(await freePort()),
        DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:9/x',
      });
      expect((await badDb.waitForExit(START_TIMEOUT_MS)).code, badDb.stderr()).to.equal(78);
      expect(badDb.logs().find((l) => l.level === 60)?.msg).to.match(/^DATABASE_URL: /);
      expect(badDb.stdout() + badDb.stderr()).not.to.include('s3cret');
    });

    it('starts on a fresh DATA_DIR with SQLite, warns once that Turnstile is off, answers /healthz and stops on SIGTERM', async () => {
      const dataDir = await tempDir();
      const { child, url } = await startServer({ DATA_DIR: dataDir });
      try {
        const health = await rawRequest(`${url}/healthz`);
        expect(health.status).to.equal(200);
        expect(health.json()).to.deep.equal({ status: 'ok' });
        expect((await rawRequest(`${url}/readyz`)).status).to.equal(200);
        expect(child.logs().find((l) => l.msg === 'Pixbin is listening')?.database).to.equal('sqlite');
        expect(child.logs().find((l) => l.msg === 'applied database migrations')?.migrations).to.deep.equal(MIGRATIONS);
      } finally {
        await stopServer(child);
      }
      // On a fresh instance the other warning is the one-time admin setup link.
      const warnings = child.logs().filter((l) => l.level === 40 && !l.setupUrl);
      expect(warnings, JSON.stringify(warnings)).to.have.length(1);
      expect(warnings[0]!.msg).to.match(TURNSTILE_OFF);
      expect(child.logs().filter((l) => l.setupUrl)).to.have.length(1);
      // Piped, every line stays JSON (the link is the setupUrl field); a terminal shows it on a line of its own (logger.test.ts).
      expect(child.stdout().split('\n').filter((l) => l && !l.startsWith('{'))).to.deep.equal([]);
      expect(child.stderr()).to.equal('');
      await fs.access(path.join(dataDir, 'pixbin.sqlite'));
    });

    it('lets an upload in flight finish when SIGTERM arrives, refuses new connections, then exits 0', async () => {
      const dataDir = await tempDir();
      const { child, url } = await startServer({ DATA_DIR: dataDir });
      const { port } = new URL(url);
      const png = await fixtures.png();
      const { body, contentType } = multipart([{ name: 'file', value: Buffer.concat([png, Buffer.alloc(256 * 1024)]), filename: 'slow.png' }]);
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      let response = '';
      socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(`POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nAccept: application/json\r\n\r\n`);
      socket.write(body.subarray(0, body.length / 2));
      // In flight: the server is writing the file part to its temp folder.
      await child.waitUntil(() => readdirSync(path.join(dataDir, 'tmp')).length > 0, 5000, 'the upload’s temp file');
      child.process.kill('SIGTERM');
      await child.waitUntil(() => child.logs().some((l) => String(l.msg).startsWith('shutting down')), 5000, 'shutdown log line');
      // A new connection is refused while the old upload is still running.
      expect(await rawRequest(`${url}/healthz`).then(() => 'answered', () => 'refused')).to.equal('refused');
      socket.write(body.subarray(body.length / 2));
      await Promise.race([closed, child.waitUntil(() => response.includes('"deleteUrl"'), 10_000, 'the upload response')]);
      socket.destroy();
      expect(response, child.stdout()).to.match(/^HTTP\/1\.1 201 /);
      const exit = await child.waitForExit(STOP_TIMEOUT_MS);
      expect(exit, child.stderr()).to.deep.equal({ code: 0, signal: null });
    });

    it('starts against a freshly created PostgreSQL database given by DATABASE_URL', async () => {
      const pg = await createScratchPostgres();
      try {
        const { child, url } = await startServer({ DATA_DIR: await tempDir(), DATABASE_URL: pg.url });
        try {
          expect((await rawRequest(`${url}/healthz`)).status).to.equal(200);
          const ready = await rawRequest(`${url}/readyz`);
          expect(ready.json()).to.deep.equal({ status: 'ok', checks: { database: 'ok', storage: 'ok' } });
          expect(child.logs().find((l) => l.msg === 'Pixbin is listening')?.database).to.equal('postgres');
        } finally {
          await stopServer(child);
        }
        expect(child.logs().filter((l) => l.level === 40 && !l.setupUrl).map((l) => l.msg)).to.have.length(1);
        const db = createDb({ databaseUrl: pg.url, dataDir: os.tmpdir() });
        try {
          expect(await appTables(db)).to.deep.equal(APP_TABLES);
        } finally {
          await db.destroy();
        }
      } finally {
        await pg.drop();
      }
    });

    it('`npm run migrate` creates the SQLite file and tables on a fresh DATA_DIR, then reports it is up to date', async () => {
      const dataDir = await tempDir();
      const first = spawnChild('npm', ['run', '--silent', 'migrate'], { DATA_DIR: dataDir });
      expect((await first.waitForExit(START_TIMEOUT_MS)).code, first.stderr()).to.equal(0);
      expect(first.stdout().trim()).to.equal(`applied: ${MIGRATIONS.join(', ')}`);
      const db = createDb({ databaseUrl: undefined, dataDir });
      try {
        expect(await appTables(db)).to.deep.equal(APP_TABLES);
      } finally {
        await db.destroy();
      }

      const second = spawnTs('server/cli/migrate.ts', { DATA_DIR: dataDir });
      expect((await second.waitForExit(START_TIMEOUT_MS)).code, second.stderr()).to.equal(0);
      expect(second.stdout().trim()).to.equal('already up to date');
    });

    it('`migrate` exits non-zero naming the variable when the configuration is wrong', async () => {
      const child = spawnTs('server/cli/migrate.ts', { DATA_DIR: await tempDir(), DATABASE_URL: 'mysql://root@127.0.0.1/x' });
      expect((await child.waitForExit(START_TIMEOUT_MS)).code).to.equal(1);
      expect(child.stderr()).to.include('DATABASE_URL');
    });
  });
});
