import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { createRepos } from '../../db/repos.js';
import { restoreImage } from '../../services/recovery.service.js';
import { migrateStorage } from '../../services/storage-migration.service.js';
import { LocalStorage } from '../../storage/local.storage.js';
import { S3Storage } from '../../storage/s3.storage.js';
import type { StorageDriver } from '../../storage/storage.js';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { killAllChildren, spawnTs } from '../helpers/child-process.js';
import { rawRequest, upload } from '../helpers/http.js';
import { s3Env, s3Settings, startS3Server, type S3Server } from '../helpers/s3.js';
import { listKeys, startTestApp } from '../helpers/test-app.js';

async function digests(storage: StorageDriver): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await listKeys(storage, '')) {
    const hash = createHash('sha256');
    for await (const chunk of await storage.get(key)) hash.update(chunk as Buffer);
    out[key] = hash.digest('hex');
  }
  return out;
}

/** A target that corrupts what it is given: the fault the read-back verification exists to catch. */
class CorruptingStorage extends LocalStorage {
  override put(key: string, body: Readable): Promise<{ size: number }> {
    const flip = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const copy = Buffer.from(chunk);
        copy[0] = copy[0]! ^ 0xff;
        done(null, copy);
      },
    });
    return super.put(key, body.pipe(flip).pipe(new PassThrough()));
  }
}

describe('moving an instance between local disk and S3 (npm run storage:migrate)', function () {
  this.timeout(120_000);
  let s3: S3Server;
  let dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-migrate-'));
    dirs.push(dir);
    return dir;
  };
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3.close();
  });
  afterEach(async () => {
    killAllChildren();
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
    dirs = [];
  });

  const runMigrate = async (env: Record<string, string>, args: string[]) => {
    const child = spawnTs('server/cli/storage-migrate.ts', env, args);
    const exit = await child.waitForExit(60_000);
    return { code: exit.code, stdout: child.stdout(), stderr: child.stderr() };
  };

  it('moves a populated instance to S3 and back with zero mismatches; the app then serves and restores from the bucket', async () => {
    const dataDir = await tempDir();
    await s3.createBucket('move-here');
    const env = { DATA_DIR: dataDir, ...s3Env(s3.endpoint, 'move-here', { S3_PREFIX: 'px/' }) };

    // A populated instance on local disk: guest images, an account's private image, a deleted one in recovery.
    const local = await startTestApp({ ...env, STORAGE_DRIVER: 'local' });
    const guest = (await upload(local.url, { bytes: await fixtures.png() })).json();
    const doomed = (await upload(local.url, { bytes: await fixtures.jpegWithGps() })).json();
    const alice = await signedInUser(local);
    const mine = (await ownerUpload(alice, await fixtures.png())).json();
    await ownerPost(alice, `/account/images/${mine.id}/visibility`, { visibility: 'private' }, { json: true });
    await rawRequest(doomed.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    const before = await digests(local.storage);
    expect(Object.keys(before)).to.have.length(9);
    expect(Object.keys(before).filter((k) => k.startsWith('recovery/'))).to.have.length(3);
    const guestBytes = (await rawRequest(guest.url)).body;
    await local.close();

    const first = await runMigrate(env, ['--to', 's3']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include('objects: 9').and.include('copied: 9').and.include('skipped (already there, same checksum): 0');
    expect(first.stdout).to.include('mismatched: 0').and.include('failed: 0').and.include('Set STORAGE_DRIVER=s3');
    expect(first.stderr).to.match(/9\/9 objects, [\d.]+ [KM]?i?B copied, [\d.]+ [KM]?i?B\/s/);
    const bucket = new S3Storage(s3Settings(s3.endpoint, 'move-here', { prefix: 'px/' }));
    try {
      expect(await digests(bucket)).to.deep.equal(before);

      // Running it again is safe: everything already there is verified and skipped.
      const again = await runMigrate(env, ['--to', 's3']);
      expect(again.code).to.equal(0);
      expect(again.stdout).to.include('copied: 0').and.include('skipped (already there, same checksum): 9');

      // Switched over: the same links serve the same bytes from the bucket, and a restore works there too.
      const onS3 = await startTestApp({ ...env, STORAGE_DRIVER: 's3' });
      try {
        expect((await rawRequest(guest.url.replace(/^http:\/\/[^/]+/, onS3.url))).body).to.deep.equal(guestBytes);
        await restoreImage(
          { repos: createRepos(onS3.db), storage: onS3.storage },
          doomed.id,
          { userId: null, ip: undefined, userAgent: undefined },
          new Date(),
        );
        expect((await rawRequest(doomed.url.replace(/^http:\/\/[^/]+/, onS3.url))).status).to.equal(200);
      } finally {
        await onS3.close();
      }
      const now = await digests(bucket);


      // And back to an empty disk.
      const backDir = await tempDir();
      const back = await runMigrate({ ...env, DATA_DIR: backDir }, ['--to', 'local']);
      expect(back.code, back.stderr).to.equal(0);
      expect(back.stdout).to.include('copied: 9').and.include('mismatched: 0');
      expect(await digests(new LocalStorage(path.join(backDir, 'storage')))).to.deep.equal(now);
    } finally {
      bucket.destroy();
    }
  });

  it('resumes after an interruption: copies what is missing or different, skips the rest', async () => {
    const dataDir = await tempDir();
    await s3.createBucket('resume-here');
    const source = new LocalStorage(path.join(dataDir, 'storage'));
    for (let i = 0; i < 5; i++) await source.put(`images/ab/${i}.png`, Readable.from([Buffer.from(`image ${i} `.repeat(100))]));
    const target = new S3Storage(s3Settings(s3.endpoint, 'resume-here'));
    try {
      // As a killed run leaves it: two copied, one of them damaged, the rest never started.
      await target.put('images/ab/0.png', await source.get('images/ab/0.png'));
      await target.put('images/ab/1.png', Readable.from([Buffer.from(`IMAGE 1 `.repeat(100))]));
      const report = await migrateStorage(source, target);
      expect(report).to.include({ total: 5, copied: 4, skipped: 1 });
      expect(report.mismatched).to.deep.equal([]);
      expect(report.failed).to.deep.equal([]);
      expect(await digests(target)).to.deep.equal(await digests(source));
    } finally {
      target.destroy();
    }
  });

  it('reports every copy whose read-back checksum differs, and says not to switch', async () => {
    const dir = await tempDir();
    const source = new LocalStorage(path.join(dir, 'a'));
    await source.put('images/ab/x.png', Readable.from([Buffer.from('x'.repeat(1000))]));
    await source.put('thumbs/ab/x.webp', Readable.from([Buffer.from('y'.repeat(100))]));
    const report = await migrateStorage(source, new CorruptingStorage(path.join(dir, 'b')));
    expect(report.mismatched).to.deep.equal(['images/ab/x.png', 'thumbs/ab/x.webp']);
    expect(report.copied).to.equal(0);
  });

  it('explains what is wrong with the command line or the settings instead of starting', async () => {
    const noTarget = await runMigrate({ DATA_DIR: await tempDir() }, []);
    expect(noTarget.code).to.equal(64);
    expect(noTarget.stderr).to.include('usage: npm run storage:migrate -- --to s3|local');
    const noBucket = await runMigrate({ DATA_DIR: await tempDir() }, ['--to', 's3']);
    expect(noBucket.code).to.equal(1);
    expect(noBucket.stderr).to.include('S3_BUCKET');
    const missingBucket = await runMigrate({ DATA_DIR: await tempDir(), ...s3Env(s3.endpoint, 'never-created') }, ['--to', 's3']);
    expect(missingBucket.code).to.equal(1);
    expect(missingBucket.stderr).to.include('S3_BUCKET: bucket "never-created"');
  });
});
