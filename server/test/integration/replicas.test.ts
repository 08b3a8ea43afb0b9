import { expect } from 'chai';
import knexFactory from 'knex';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fixtures } from '../fixtures/images.js';
import { freePort, killAllChildren, spawnTs, type Child } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';
import { createScratchPostgres, MIGRATION_NAMES, type ScratchPostgres } from '../helpers/scratch-db.js';
import { testDialect } from '../helpers/test-db.js';
import { WebClient } from '../helpers/web-client.js';

// Scale-out runs on PostgreSQL, so this suite belongs to the PostgreSQL pass.
if (testDialect() === 'postgres') {
  describe('two replicas on one PostgreSQL database and shared storage', function () {
    this.timeout(120_000);
    let pg: ScratchPostgres;
    let dataDir: string;
    const replicas: Array<{ child: Child; url: string }> = [];

    before(async () => {
      pg = await createScratchPostgres();
      dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-replicas-'));
      const ports = [await freePort(), await freePort()];
      // Both start at the same moment, so both try to migrate the empty database at once.
      const children = ports.map((port) =>
        spawnTs('server/main.ts', { HOST: '127.0.0.1', PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${ports[0]}`, DATA_DIR: dataDir, DATABASE_URL: pg.url }),
      );
      for (const [i, child] of children.entries()) {
        await child.waitUntil(() => child.logs().some((l) => l.msg === 'Pixbin is listening'), 60_000, 'listening');
        replicas.push({ child, url: `http://127.0.0.1:${ports[i]}` });
      }
    });
    after(async () => {
      for (const { child } of replicas) child.process.kill('SIGTERM');
      await Promise.all(replicas.map(({ child }) => child.waitForExit(20_000).catch(() => undefined)));
      killAllChildren();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    });

    it('applied every migration exactly once although both started together', async () => {
      const db = knexFactory({ client: 'pg', connection: pg.url, pool: { min: 0, max: 1 } });
      try {
        const names = (await db('knex_migrations').select('name').orderBy('id')).map((r: { name: string }) => r.name.replace(/\.(ts|js)$/, ''));
        expect(names).to.deep.equal([...MIGRATION_NAMES]);
      } finally {
        await db.destroy();
      }
      const applied = replicas.flatMap(({ child }) => (child.logs().find((l) => l.msg === 'applied database migrations')?.migrations as string[] | undefined) ?? []);
      expect(applied.sort()).to.deep.equal([...MIGRATION_NAMES].sort());
    });

    it('serves and deletes through one replica what was uploaded through the other', async () => {
      const [a, b] = [replicas[0]!, replicas[1]!];
      const res = await upload(a.url, { bytes: await fixtures.png() });
      expect(res.status).to.equal(201);
      const { url, deleteUrl } = res.json();
      const onB = (u: string) => u.replace(a.url, b.url);
      const fromA = await rawRequest(url);
      const fromB = await rawRequest(onB(url));
      expect(fromB.status).to.equal(200);
      expect(fromB.body.equals(fromA.body)).to.equal(true);
      expect((await rawRequest(onB(deleteUrl), { method: 'POST', headers: { Accept: 'application/json' } })).json()).to.deep.equal({ deleted: true });
      expect((await rawRequest(url)).status).to.equal(404);
    });

    it('keeps a session signed in on one replica valid on the other', async () => {
      const [a, b] = [replicas[0]!, replicas[1]!];
      const onA = new WebClient(a.url);
      await onA.post('/signup', { username: 'scaled', email: 'scaled@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' });
      expect((await onA.post('/login', { login: 'scaled', password: 'correct horse battery staple' })).status).to.equal(303);
      const onB = new WebClient(b.url);
      for (const [name, value] of onA.cookies) onB.cookies.set(name, value);
      const page = await onB.get('/account/images');
      expect(page.status).to.equal(200);
      expect(page.body.toString()).to.include('Log out scaled');
    });
  });
}
