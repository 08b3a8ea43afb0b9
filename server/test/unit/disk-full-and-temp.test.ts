import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { InsufficientStorage } from '../../errors.js';
import { toPublicError } from '../../http/errors.js';
import { createBurstLog } from '../../lib/burst-log.js';
import { isStorageFull, storageFullCode } from '../../lib/storage-full.js';
import { DEAD_AFTER_MS, PROCESS_FOLDER, reapDeadTempDirs } from '../../lib/temp-area.js';
import { scratchBytesNeeded } from '../../services/image-processing.service.js';

describe('a full disk is classified as the server’s (507), never the uploader’s', () => {
  it('recognises ENOSPC, EDQUOT, SQLITE_FULL, libvips’ message and causes; nothing else', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(storageFullCode(enospc)).to.equal('ENOSPC');
    expect(storageFullCode(Object.assign(new Error('quota'), { code: 'EDQUOT' }))).to.equal('EDQUOT');
    expect(storageFullCode(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).to.equal('SQLITE_FULL');
    expect(storageFullCode(new Error('VipsImage: unable to write to "/x/y.v"\nvips__file_write: write failed: No space left on device'))).to.equal('libvips');
    expect(storageFullCode(new InsufficientStorage(undefined, undefined, undefined, { cause: enospc }))).to.equal('ENOSPC');
    expect(storageFullCode(new Error('wrapped', { cause: enospc }))).to.equal('ENOSPC');
    expect(isStorageFull(new Error('VipsJpeg: Premature end of input file'))).to.equal(false);
    expect(isStorageFull(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).to.equal(false);
  });

  it('answers 507 storage_full with Retry-After, SQLITE_FULL included (not 503 database_unavailable)', () => {
    for (const err of [Object.assign(new Error('x'), { code: 'ENOSPC' }), Object.assign(new Error('x'), { code: 'SQLITE_FULL' }), new Error('No space left on device')]) {
      const answer = toPublicError(err, { upload: true });
      expect(answer).to.include({ status: 507, code: 'storage_full' });
      expect(answer.headers).to.deep.equal({ 'Retry-After': '60' });
      expect(answer.message).to.match(/not a problem with your file/);
    }
  });

  it('logs a burst once at error level, counts the rest, and says when it is over', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    let over = false;
    const log = createBurstLog(
      logger,
      { classify: storageFullCode, fields: (done) => ({ storage: done ? 'room again' : 'full' }), first: 'disk full', still: () => 'still', over: (f) => `room again: ${f.failedRequests}`, quiet: () => 'quiet' },
      { probeEveryMs: 5 },
    );
    log.probeWith(async () => over);
    for (let i = 0; i < 5; i++) expect(log.failed(Object.assign(new Error('x'), { code: 'ENOSPC' }))).to.equal(true);
    expect(log.failed(new Error('something else'))).to.equal(false);
    expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([[50, 'disk full']]);
    over = true;
    while (log.active) await new Promise((r) => setTimeout(r, 5));
    expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([
      [50, 'disk full'],
      [30, 'room again: 5'],
    ]);
  });

  it('tells the free space an upload needs: decoded pixels, a hash copy when not plain 8-bit RGB, the file twice', () => {
    const mb = 1024 * 1024;
    expect(scratchBytesNeeded({ width: 6000, height: 4000, channels: 3, depth: 'uchar', space: 'srgb' }, 8 * mb)).to.equal(72_000_000 + 16 * mb + 4 * mb);
    expect(scratchBytesNeeded({ width: 1000, height: 1000, channels: 4, depth: 'ushort', space: 'rgb16' }, mb)).to.equal(8_000_000 + 3_000_000 + 2 * mb + 4 * mb);
  });
});

describe('per-process temp folders', () => {
  let root = '';
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-temp-area-'));
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('removes a dead process’s folder whatever its files’ age, keeps live ones, its own and young loose files', async () => {
    const now = Date.now();
    const at = async (entry: string, ageMs: number) => {
      const when = new Date(now - ageMs);
      await fs.utimes(path.join(root, entry), when, when);
    };
    // Another host (or pid namespace): only the heartbeat (the folder's mtime) tells.
    const deadElsewhere = 'AAAAAAAAAA.00000000.1.4242';
    const liveElsewhere = 'BBBBBBBBBB.00000000.1.4243';
    // This host and namespace, a pid that no longer exists: dead at once, even with a fresh heartbeat.
    const [, host, ns] = PROCESS_FOLDER.split('.');
    const goneHere = `CCCCCCCCCC.${host}.${ns}.${2 ** 22 + 12345}`;
    for (const folder of [deadElsewhere, liveElsewhere, goneHere, PROCESS_FOLDER]) {
      await fs.mkdir(path.join(root, folder));
      await fs.writeFile(path.join(root, folder, 'x.upload'), 'x'); // a fresh file: its age does not matter
    }
    await fs.writeFile(path.join(root, 'loose-new.upload'), 'x');
    await fs.writeFile(path.join(root, 'loose-old.upload'), 'x');
    await at(deadElsewhere, DEAD_AFTER_MS + 5000);
    await at(PROCESS_FOLDER, DEAD_AFTER_MS + 5000);
    await at('loose-old.upload', 2 * 3600_000);
    const result = await reapDeadTempDirs(root, { now });
    expect(result).to.deep.equal({ deadFolders: ns === 'x' ? 1 : 2, staleEntries: 1 });
    const left = (await fs.readdir(root)).sort();
    expect(left).to.include.members([liveElsewhere, PROCESS_FOLDER, 'loose-new.upload']);
    expect(left).to.not.include.members([deadElsewhere, 'loose-old.upload']);
    if (ns !== 'x') expect(left).to.not.include(goneHere);
  });
});
