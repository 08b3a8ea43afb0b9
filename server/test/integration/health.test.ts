import { expect } from 'chai';
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp } from '../../app.js';
import { createContainer } from '../../container.js';
import { loadConfig } from '../../config/config.js';
import { createDb } from '../../db/knex.js';
import { LocalStorage } from '../../storage/local.storage.js';
import { rawRequest } from '../helpers/http.js';
import { startTestApp } from '../helpers/test-app.js';

describe('health and readiness', () => {
  it('/healthz and /readyz answer 200 when the database and storage answer', async () => {
    const app = await startTestApp();
    try {
      expect((await rawRequest(`${app.url}/healthz`)).json()).to.deep.equal({ status: 'ok' });
      const ready = await rawRequest(`${app.url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(ready.json()).to.deep.equal({ status: 'ok', checks: { database: 'ok', storage: 'ok' } });
    } finally {
      await app.close();
    }
  });

  it('/readyz answers 503 naming the failed dependency (storage gone, database unreachable), without error text', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-ready-'));
    const storageRoot = path.join(dir, 'storage');
    await fs.mkdir(storageRoot);
    // A database file inside a folder that does not exist cannot be opened.
    const db = createDb({ databaseUrl: undefined, dataDir: dir });
    const brokenDb = createDb({ databaseUrl: 'postgres://nobody@127.0.0.1:9/none', dataDir: dir });
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = loadConfig({ DATA_DIR: dir, PUBLIC_URL: url });
    const logger = pino({ level: 'silent' });
    try {
      let app = createApp(createContainer({ config, db, storage: new LocalStorage(storageRoot), logger, tempDir: dir }));
      server.on('request', (req, res) => app(req, res));
      expect((await rawRequest(`${url}/readyz`)).status).to.equal(200);

      await fs.rm(storageRoot, { recursive: true });
      await fs.writeFile(storageRoot, 'not a folder');
      const noStorage = await rawRequest(`${url}/readyz`);
      expect(noStorage.status).to.equal(503);
      expect(noStorage.json()).to.deep.equal({ status: 'unavailable', checks: { database: 'ok', storage: 'fail' } });

      app = createApp(createContainer({ config, db: brokenDb, storage: new LocalStorage(path.join(dir, 'ok')), logger, tempDir: dir }));
      const noDb = await rawRequest(`${url}/readyz`);
      expect(noDb.status).to.equal(503);
      expect(noDb.json()).to.deep.equal({ status: 'unavailable', checks: { database: 'fail', storage: 'ok' } });
      expect((await rawRequest(`${url}/healthz`)).status, 'liveness does not depend on the database').to.equal(200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await db.destroy();
      await brokenDb.destroy();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('warns once, naming PUBLIC_URL, when browsers reach the app under another host', async () => {
    const app = await startTestApp({ PUBLIC_URL: 'https://pix.example.test' });
    try {
      await rawRequest(`${app.url}/healthz`);
      expect(app.logs.filter((l) => String(l.msg).startsWith('PUBLIC_URL'))).to.have.length(0);
      await rawRequest(`${app.url}/`);
      await rawRequest(`${app.url}/`);
      const warnings = app.logs.filter((l) => String(l.msg).startsWith('PUBLIC_URL'));
      expect(warnings).to.have.length(1);
      expect(warnings[0]!.msg).to.include('https://pix.example.test').and.include('127.0.0.1');
    } finally {
      await app.close();
    }
    const right = await startTestApp();
    try {
      await rawRequest(`${right.url}/`);
      expect(right.logs.filter((l) => String(l.msg).startsWith('PUBLIC_URL'))).to.have.length(0);
    } finally {
      await right.close();
    }
  });
});
