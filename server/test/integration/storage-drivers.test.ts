import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalStorage } from '../../storage/local.storage.js';
import { S3Storage } from '../../storage/s3.storage.js';
import { MissingObject, type ListedObject, type StorageDriver } from '../../storage/storage.js';
import { s3Settings, startS3Server, type S3Server } from '../helpers/s3.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function keysUnder(storage: StorageDriver, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list(prefix)) keys.push(o.key);
  return keys.sort();
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Driver = { name: string; open: () => Promise<{ storage: StorageDriver; dispose: () => Promise<void> }> };

let s3: S3Server;
let bucketNo = 0;

const drivers: Driver[] = [
  {
    name: 'local',
    open: async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-driver-'));
      return { storage: new LocalStorage(dir), dispose: () => fs.rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    open: async () => {
      const bucket = `contract-${++bucketNo}`;
      await s3.createBucket(bucket);
      // A small part size, so a few MB already take the multipart path.
      const storage = new S3Storage(s3Settings(s3.endpoint, bucket, { prefix: 'tenant/', partSizeBytes: 5 * 1024 * 1024 }));
      return { storage, dispose: async () => storage.destroy() };
    },
  },
  {
    name: 's3 with request checksums when supported',
    open: async () => {
      const bucket = `contract-${++bucketNo}`;
      await s3.createBucket(bucket);
      const storage = new S3Storage(s3Settings(s3.endpoint, bucket, { requestChecksum: 'WHEN_SUPPORTED' }));
      return { storage, dispose: async () => storage.destroy() };
    },
  },
];

describe('storage drivers: one contract, local disk and S3', function () {
  this.timeout(30_000);
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3.close();
  });

  for (const driver of drivers) {
    describe(driver.name, () => {
      let storage: StorageDriver;
      let dispose: () => Promise<void>;
      beforeEach(async () => {
        ({ storage, dispose } = await driver.open());
      });
      afterEach(async () => {
        await dispose();
      });

      it('passes its own check and leaves no probe object behind', async () => {
        await storage.check();
        expect(await keysUnder(storage, '')).to.deep.equal([]);
      });

      it('stores a stream, reads it back byte for byte and by inclusive range, and stats it', async () => {
        const bytes = randomBytes(100_000);
        expect(await storage.put('images/ab/one.png', Readable.from([bytes]), { contentType: 'image/png' })).to.deep.equal({ size: bytes.length });
        expect(sha(await readAll(await storage.get('images/ab/one.png')))).to.equal(sha(bytes));
        expect(await readAll(await storage.get('images/ab/one.png', { start: 10, end: 19 }))).to.deep.equal(bytes.subarray(10, 20));
        const stat = await storage.stat('images/ab/one.png');
        expect(stat?.size).to.equal(bytes.length);
        expect(stat?.modifiedAt).to.be.instanceOf(Date);
        expect(await storage.exists('images/ab/one.png')).to.equal(true);
      });

      it('streams a multi-part object through (larger than one part) and counts every byte', async () => {
        const part = randomBytes(1024 * 1024);
        const parts = 12;
        const hash = createHash('sha256');
        for (let i = 0; i < parts; i++) hash.update(part);
        const body = Readable.from((function* () {
          for (let i = 0; i < parts; i++) yield part;
        })());
        expect(await storage.put('images/ab/big.png', body)).to.deep.equal({ size: part.length * parts });
        const back = createHash('sha256');
        for await (const chunk of await storage.get('images/ab/big.png')) back.update(chunk as Buffer);
        expect(back.digest('hex')).to.equal(hash.digest('hex'));
      });

      it('says a missing key is missing: stat null, exists false, get a MissingObject with code ENOENT', async () => {
        expect(await storage.stat('images/zz/none.png')).to.equal(null);
        expect(await storage.exists('images/zz/none.png')).to.equal(false);
        const err = await storage.get('images/zz/none.png').then(() => null, (e: unknown) => e);
        expect(err).to.be.instanceOf(MissingObject);
        expect((err as MissingObject).code).to.equal('ENOENT');
      });

      it('deletes, and deleting again or a key never stored succeeds', async () => {
        await storage.put('thumbs/ab/x.webp', Readable.from([Buffer.from('x')]));
        await storage.delete('thumbs/ab/x.webp');
        expect(await storage.exists('thumbs/ab/x.webp')).to.equal(false);
        await storage.delete('thumbs/ab/x.webp');
        await storage.delete('thumbs/ab/never.webp');
      });

      it('moves an object, and repeating the move is a success that changes nothing', async () => {
        const bytes = randomBytes(5000);
        await storage.put('images/ab/m.png', Readable.from([bytes]));
        expect(await storage.move('images/ab/m.png', 'recovery/tok/images/ab/m.png')).to.equal(true);
        expect(await storage.exists('images/ab/m.png')).to.equal(false);
        expect(await readAll(await storage.get('recovery/tok/images/ab/m.png'))).to.deep.equal(bytes);
        expect(await storage.move('images/ab/m.png', 'recovery/tok/images/ab/m.png'), 'again').to.equal(true);
        expect(await storage.move('images/ab/gone.png', 'recovery/tok/images/ab/gone.png'), 'neither exists').to.equal(false);
      });

      it('lists the objects under a prefix with their sizes, and nothing of the prefix next to it', async () => {
        await storage.put('images/ab/1.png', Readable.from([Buffer.alloc(3)]));
        await storage.put('images/cd/2.png', Readable.from([Buffer.alloc(5)]));
        await storage.put('thumbs/ab/1.webp', Readable.from([Buffer.alloc(7)]));
        await storage.put('recovery/t/images/ab/9.png', Readable.from([Buffer.alloc(1)]));
        const all: ListedObject[] = [];
        for await (const o of storage.list('')) all.push(o);
        for (const o of all) expect(o.modifiedAt, o.key).to.be.instanceOf(Date);
        expect(all.map(({ key, size }) => ({ key, size })).sort((a, b) => a.key.localeCompare(b.key))).to.deep.equal([
          { key: 'images/ab/1.png', size: 3 },
          { key: 'images/cd/2.png', size: 5 },
          { key: 'recovery/t/images/ab/9.png', size: 1 },
          { key: 'thumbs/ab/1.webp', size: 7 },
        ]);
        expect(await keysUnder(storage, 'images/')).to.deep.equal(['images/ab/1.png', 'images/cd/2.png']);
        expect(await keysUnder(storage, 'recovery/')).to.deep.equal(['recovery/t/images/ab/9.png']);
      });

      it('rejects a failing stream and leaves no object', async () => {
        const failing = new Readable({
          read() {
            this.destroy(new Error('client went away'));
          },
        });
        const err = await storage.put('images/ab/fail.png', failing).then(() => null, (e: unknown) => e);
        expect(err).to.be.instanceOf(Error);
        expect(await storage.exists('images/ab/fail.png')).to.equal(false);
      });

      it('refuses a key that could escape its root or prefix, in every method', async () => {
        for (const key of ['../x', 'images/../../x', '/etc/passwd', '.hidden/x']) {
          const attempts = [
            storage.put(key, Readable.from([Buffer.from('x')])),
            storage.get(key),
            storage.stat(key),
            storage.delete(key),
            storage.move(key, 'images/ab/ok.png'),
            storage.move('images/ab/ok.png', key),
          ];
          for (const attempt of attempts) expect(await attempt.then(() => 'ok', (e: Error) => e.name), key).to.equal('StorageError');
        }
      });
    });
  }

  it('keeps S3 objects under S3_PREFIX, so several instances can share one bucket', async () => {
    await s3.createBucket('shared-bucket');
    const a = new S3Storage(s3Settings(s3.endpoint, 'shared-bucket', { prefix: 'a/' }));
    const b = new S3Storage(s3Settings(s3.endpoint, 'shared-bucket', { prefix: 'b/' }));
    try {
      await a.put('images/ab/x.png', Readable.from([Buffer.from('A')]));
      await b.put('images/ab/x.png', Readable.from([Buffer.from('B')]));
      expect((await readAll(await a.get('images/ab/x.png'))).toString()).to.equal('A');
      expect((await readAll(await b.get('images/ab/x.png'))).toString()).to.equal('B');
      expect(await keysUnder(a, '')).to.deep.equal(['images/ab/x.png']);
      expect(a.objectKey('images/ab/x.png')).to.equal('a/images/ab/x.png');
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
