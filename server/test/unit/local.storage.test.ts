import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalStorage } from '../../storage/local.storage.js';
import { StorageError } from '../../storage/storage.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every file under dir, relative and sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** A stream that yields some bytes, then fails as an aborted upload would. */
function failingStream(): Readable {
  return new Readable({
    read() {
      this.push(Buffer.from('partial bytes'));
      this.destroy(new Error('client went away'));
    },
  });
}

const KEY = 'images/ab/abcdefghijkl.png';
const BYTES = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));

describe('LocalStorage', () => {
  let base: string;
  let root: string;
  let storage: LocalStorage;

  beforeEach(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-local-storage-'));
    root = path.join(base, 'data');
    await fs.mkdir(root);
    storage = new LocalStorage(root);
  });
  afterEach(() => fs.rm(base, { recursive: true, force: true }));

  it('is named "local"', () => {
    expect(storage.name).to.equal('local');
  });

  it('stores a stream under its key, returns its size and reads it back byte for byte', async () => {
    const { size } = await storage.put(KEY, Readable.from([BYTES.subarray(0, 1000), BYTES.subarray(1000)]));
    expect(size).to.equal(BYTES.length);
    expect(await fs.readFile(path.join(root, KEY))).to.deep.equal(BYTES);
    expect(await readAll(await storage.get(KEY))).to.deep.equal(BYTES);
  });

  it('stores an empty stream as an empty object', async () => {
    expect(await storage.put('empty.bin', Readable.from([]))).to.deep.equal({ size: 0 });
    expect(await readAll(await storage.get('empty.bin'))).to.have.length(0);
  });

  it('reads an inclusive byte range', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    expect(await readAll(await storage.get(KEY, { start: 0, end: 0 }))).to.deep.equal(BYTES.subarray(0, 1));
    expect(await readAll(await storage.get(KEY, { start: 10, end: 19 }))).to.deep.equal(BYTES.subarray(10, 20));
    const last = BYTES.length - 1;
    expect(await readAll(await storage.get(KEY, { start: last - 4, end: last }))).to.deep.equal(BYTES.subarray(last - 4));
    expect(await readAll(await storage.get(KEY, { start: 0, end: last }))).to.deep.equal(BYTES);
  });

  it('replaces an existing object whole', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    await storage.put(KEY, Readable.from([Buffer.from('short')]));
    expect((await readAll(await storage.get(KEY))).toString()).to.equal('short');
    expect((await storage.stat(KEY))?.size).to.equal(5);
  });

  it('leaves no temp file behind after a successful put', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    expect(await listFiles(root)).to.deep.equal([KEY]);
  });

  it('writes files that other users cannot read', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    const { mode } = await fs.stat(path.join(root, KEY));
    expect(mode & 0o007, 'other permission bits').to.equal(0);
  });

  it('rejects a failing stream, keeps the old object and leaves no temp file', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    let failure: unknown;
    await storage.put(KEY, failingStream()).catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(Error).with.property('message', 'client went away');
    expect(await readAll(await storage.get(KEY))).to.deep.equal(BYTES);
    expect(await listFiles(root)).to.deep.equal([KEY]);
  });

  it('creates nothing when the first put of a key fails', async () => {
    await storage.put('other.bin', failingStream()).catch(() => undefined);
    expect(await storage.exists('other.bin')).to.equal(false);
    expect(await listFiles(root)).to.deep.equal([]);
  });

  it('reports size and modification time with stat, and existence with exists', async () => {
    const before = Date.now();
    await storage.put(KEY, Readable.from([BYTES]));
    const stat = await storage.stat(KEY);
    expect(stat?.size).to.equal(BYTES.length);
    expect(stat?.modifiedAt).to.be.instanceOf(Date);
    expect(stat!.modifiedAt.getTime()).to.be.within(before - 2000, Date.now() + 2000);
    expect(await storage.exists(KEY)).to.equal(true);
  });

  it('answers null and false for a missing key', async () => {
    expect(await storage.stat('images/zz/missing.png')).to.equal(null);
    expect(await storage.exists('images/zz/missing.png')).to.equal(false);
  });

  it('does not call a directory an object', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    expect(await storage.stat('images')).to.equal(null);
    expect(await storage.exists('images/ab')).to.equal(false);
  });

  it('rejects get of a missing key before returning a stream', async () => {
    let failure: unknown;
    await storage.get('images/zz/missing.png').catch((err: unknown) => (failure = err));
    expect(failure).to.have.property('code', 'ENOENT');
  });

  it('deletes an object, and deleting it again (or a key never stored) succeeds', async () => {
    await storage.put(KEY, Readable.from([BYTES]));
    await storage.delete(KEY);
    expect(await storage.exists(KEY)).to.equal(false);
    await storage.delete(KEY);
    await storage.delete('never/stored.png');
    expect(await listFiles(root)).to.deep.equal([]);
  });

  it('passes check() on a writable root and leaves no probe file', async () => {
    await storage.check();
    expect(await listFiles(root)).to.deep.equal([]);
  });

  it('fails check() with a StorageError naming DATA_DIR when the root cannot be written', async () => {
    const file = path.join(base, 'not-a-directory');
    await fs.writeFile(file, 'x');
    // A path below a regular file cannot be created, even by root.
    const broken = new LocalStorage(path.join(file, 'data'));
    let failure: unknown;
    await broken.check().catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(StorageError);
    expect((failure as Error).message).to.match(/^DATA_DIR: /).and.include(path.join(file, 'data'));
  });

  it('resolves a relative root once, so later chdir cannot move it', async () => {
    const cwd = process.cwd();
    process.chdir(base);
    let relative: LocalStorage;
    try {
      relative = new LocalStorage('data');
    } finally {
      process.chdir(cwd);
    }
    await relative.put('x.bin', Readable.from([Buffer.from('here')]));
    expect(await fs.readFile(path.join(root, 'x.bin'), 'utf8')).to.equal('here');
  });

  it('removes temp files older than an hour and says how many, keeping recent ones (another replica may be writing)', async () => {
    expect(await storage.removeStaleTempFiles()).to.equal(0);
    await fs.mkdir(path.join(root, '.tmp'), { recursive: true });
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const name of ['a.part', 'b.part']) {
      await fs.writeFile(path.join(root, '.tmp', name), 'x');
      await fs.utimes(path.join(root, '.tmp', name), old, old);
    }
    await fs.writeFile(path.join(root, '.tmp', 'fresh.part'), 'y');
    await storage.put(KEY, Readable.from([BYTES]));
    expect(await storage.removeStaleTempFiles()).to.equal(2);
    expect(await listFiles(root)).to.deep.equal(['.tmp/fresh.part', KEY]);
  });

  describe('refuses keys that escape the root', () => {
    const hostile = ['../outside.png', '../data2/x.png', '/etc/passwd', 'images/../../x', '..\\x', 'x\u0000y', '.tmp/x.part', ''];
    for (const key of hostile) {
      it(`in every method, for ${JSON.stringify(key)}`, async () => {
        const attempts: Array<[string, () => Promise<unknown>]> = [
          ['put', () => storage.put(key, Readable.from([Buffer.from('evil')]))],
          ['get', () => storage.get(key)],
          ['stat', () => storage.stat(key)],
          ['exists', () => storage.exists(key)],
          ['delete', () => storage.delete(key)],
        ];
        for (const [method, attempt] of attempts) {
          let failure: unknown;
          await attempt().catch((err: unknown) => (failure = err));
          expect(failure, method).to.be.instanceOf(StorageError);
        }
        expect(await listFiles(base)).to.deep.equal([]);
      });
    }

    it('does not delete a file in a sibling directory that shares the root’s prefix', async () => {
      const sibling = path.join(base, 'data2');
      await fs.mkdir(sibling);
      await fs.writeFile(path.join(sibling, 'keep.png'), 'keep');
      await storage.delete('../data2/keep.png').catch(() => undefined);
      expect(await fs.readFile(path.join(sibling, 'keep.png'), 'utf8')).to.equal('keep');
    });
  });
});
