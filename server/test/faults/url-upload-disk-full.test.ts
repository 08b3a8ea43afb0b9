import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { AppError, InsufficientStorage } from '../../errors.js';
import type { FetchResult } from '../../outbound/outbound.js';
import type { UploadDeps } from '../../services/upload.service.js';
import { uploadFromUrl } from '../../services/url-upload.service.js';
import { listFiles } from '../helpers/test-app.js';

/**
 * Review of upload by URL: a full disk while the fetched bytes were written to the temp file answered 500. The drill:
 * the temp folder is a 256 KB tmpfs, the "remote" sends 1 MB; the write fails with a real ENOSPC, which must be the
 * same 507 storage_full as a file upload's, with no temp file left behind.
 */
const run = promisify(execFile);

describe('upload by URL onto a full disk (fault drill)', function () {
  let mountPoint = '';
  before(async () => {
    mountPoint = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-url-full-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]);
    } catch (err) {
      const reason = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      await fs.rm(mountPoint, { recursive: true, force: true });
      mountPoint = '';
      throw new Error(`this drill needs a small tmpfs for the temp folder and could not mount one (run as root, or with CAP_SYS_ADMIN): ${reason}`);
    }
  });
  after(async () => {
    if (!mountPoint) return;
    await run('umount', [mountPoint]).catch(() => run('umount', ['-l', mountPoint]));
    await fs.rm(mountPoint, { recursive: true, force: true });
  });

  it('answers 507 storage_full (not 500) when the temp file cannot be written, and leaves no temp file', async () => {
    const MB = 1024 * 1024;
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= MB) return void this.push(null);
        sent += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 7));
      },
    });
    const answer: FetchResult = { status: 200, headers: {}, body, finalUrl: 'https://images.example/big.png' };
    const err = await uploadFromUrl(
      // The pipeline is never reached: the write of the fetched bytes fails first.
      { upload: {} as UploadDeps, outbound: { fetchStream: () => Promise.resolve(answer) }, tempDir: mountPoint, maxBytes: 10 * MB, idleTimeoutMs: 5_000 },
      { url: 'https://images.example/big.png', keepSource: false, ownerId: null, ip: undefined, userAgent: undefined },
    ).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InsufficientStorage);
    expect(err).to.include({ kind: 'insufficient_storage', code: 'storage_full' });
    expect(((err as AppError).cause as NodeJS.ErrnoException).code).to.equal('ENOSPC');
    expect(await listFiles(mountPoint), 'no temp file is left').to.deep.equal([]);
    // The room is really back: the folder takes a file as large as the tmpfs allowed before.
    const { bavail, bsize } = await fs.statfs(mountPoint);
    expect(bavail * bsize).to.be.greaterThan(200 * 1024);
  });
});
