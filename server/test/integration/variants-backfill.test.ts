import { expect } from 'chai';
import pino from 'pino';
import sharp from 'sharp';
import { createContainer, type Container } from '../../container.js';
import { JOBS } from '../../jobs/index.js';
import { BACKFILL_PER_RUN } from '../../jobs/backfill-display-variants.job.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { fixtures } from '../fixtures/images.js';
import { scene } from '../fixtures/scenes.js';
import { expectConsistentUsage, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { killAllChildren, spawnTs } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';
import { s3Env, testS3, testStorageDriver, TEST_BUCKET } from '../helpers/s3.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const silent = pino({ level: 'silent' });
const displayKey = (id: string) => `display/${id.slice(0, 2)}/${id}.webp`;
const NO_DISPLAY = { display_size: null, display_width: null, display_height: null, display_sha256: null };

describe('display variants for images uploaded before them (npm run variants:backfill, and its job)', function () {
  this.timeout(120_000);
  let app: TestApp;
  let deps: Container;
  let ids: string[];
  let ownerId: string;
  beforeEach(async () => {
    app = await startTestApp({ DISPLAY_MAX_PX: '200' });
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
    const alice = await signedInUser(app);
    ownerId = alice.id;
    ids = [
      (await ownerUpload(alice, await scene(4, 640, 480))).json().id,
      (await upload(app.url, { bytes: await fixtures.png(400, 300) })).json().id,
      (await upload(app.url, { bytes: await fixtures.animatedGif() })).json().id,
    ].sort();
    // As if uploaded before display variants: no columns, no object, and the owner's quota never paid for one.
    for (const id of ids) {
      const row = await app.db('images').where({ id }).first();
      if (row.owner_id) await app.db('users').where({ id: row.owner_id }).decrement('used_bytes', Number(row.display_size));
      await app.db('images').where({ id }).update(NO_DISPLAY);
      await app.storage.delete(displayKey(id));
    }
  });
  afterEach(async () => {
    killAllChildren();
    await app.close();
  });

  const made = async () => (await app.db('images').whereNotNull('display_size').orderBy('id').pluck('id')) as string[];
  const expectComplete = async () => {
    expect(await made()).to.deep.equal(ids);
    for (const id of ids) {
      const row = await app.db('images').where({ id }).first();
      const res = await rawRequest(`${app.url}/d/${id}.webp`);
      expect(res.status, id).to.equal(200);
      expect(res.body.length).to.equal(Number(row.display_size));
      const meta = await sharp(res.body).metadata();
      expect(meta).to.include({ format: 'webp', width: row.display_width, height: row.display_height });
      expect(Math.max(meta.width!, meta.height!)).to.be.at.most(200);
    }
    // The owner now pays for the new bytes, so deleting the image gives back exactly what it cost.
    await expectConsistentUsage(app, ownerId);
  };

  const runCli = async (args: string[]) => {
    const env: Record<string, string> = {
      DATA_DIR: app.config.dataDir,
      DISPLAY_MAX_PX: '200',
      ...(app.config.databaseUrl ? { DATABASE_URL: app.config.databaseUrl } : {}),
      ...(testStorageDriver() === 's3' ? s3Env(testS3().endpoint, TEST_BUCKET) : {}),
    };
    const child = spawnTs('server/cli/variants-backfill.ts', env, args);
    const exit = await child.waitForExit(60_000);
    return { code: exit.code, stdout: child.stdout(), stderr: child.stderr() };
  };

  it('the CLI is resumable: stopped after one image, run again it finishes the rest, and a third run has nothing to do', async () => {
    const first = await runCli(['--limit', '1']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include('display variants made: 1').and.include('run it again');
    expect(await made()).to.deep.equal([ids[0]]);

    const second = await runCli([]);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.include('display variants made: 2').and.include('done');
    expect(second.stderr).to.match(/2 made, 0 failed/);
    await expectComplete();

    const third = await runCli([]);
    expect(third.stdout).to.include('display variants made: 0');
    expect((await runCli(['--limit', 'x'])).code, 'a bad limit').to.equal(64);
  });

  it('skips and reports an image whose original is missing, and carries on with the others', async () => {
    const gone = ids[1]!;
    const row = await app.db('images').where({ id: gone }).first();
    await app.storage.delete(`images/${gone.slice(0, 2)}/${gone}.${row.ext}`);
    const run = await runCli([]);
    expect(run.code).to.equal(1);
    expect(run.stdout).to.include('display variants made: 2').and.include(`failed: 1 (${gone})`);
    expect(await made()).to.deep.equal(ids.filter((id) => id !== gone));
    expect(await app.storedKeys()).not.to.include(displayKey(gone));
  });

  it('the job does the same a batch at a time, and then has nothing to do', async () => {
    expect(BACKFILL_PER_RUN).to.be.greaterThan(ids.length);
    const scheduler = createScheduler(deps, JOBS, { now: async () => new Date() });
    const outcome = await scheduler.run('backfill-display-variants');
    const bytes = Number(((await app.db('images').sum({ n: 'display_size' }).first()) as { n: unknown }).n);
    expect(outcome).to.deep.include({ status: 'ran', result: { items: 3, detail: { made: 3, failed: 0, bytes, more: false } } });
    await expectComplete();
    const again = await createScheduler(deps, JOBS, { now: async () => new Date(Date.now() + 1000) }).run('backfill-display-variants');
    expect(again).to.deep.include({ status: 'ran', result: { items: 0, detail: { made: 0, failed: 0, bytes: 0, more: false } } });
  });

  it('a row deleted while its variant is being made keeps no display object', async () => {
    // The service's compensation: recording fails for a row that is gone, and the stored variant is removed.
    const { backfillDisplayVariants } = await import('../../services/display-variants.service.js');
    const victim = ids[2]!;
    const repos = {
      ...deps.repos,
      images: {
        ...deps.repos.images,
        listLackingDisplay: async (after: string, limit: number) => {
          const page = await deps.repos.images.listLackingDisplay(after, limit);
          await deps.repos.images.deleteById(victim); // deleted after it was listed, before it is recorded
          return page;
        },
      },
    };
    const report = await backfillDisplayVariants({ repos, storage: app.storage, workDir: app.tempDir, displayMaxPx: 200 });
    expect(report).to.include({ made: 2, failed: 0 });
    expect(await app.storedKeys()).not.to.include(displayKey(victim));
  });
});
