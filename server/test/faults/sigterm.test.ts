import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Child } from '../helpers/child-process.js';
import { noiseJpeg, rowsAndObjects, startPixbin, stopChild, tempFiles, until } from '../helpers/drill-app.js';
import { upload } from '../helpers/http.js';
import { slowUpload } from '../helpers/slow-upload.js';

/**
 * Issue 15, item 3: a graceful SIGTERM leaked the temp file of every upload that finished during the drain, because
 * process.exit(0) ran before the fs.rm started by the response's close handler completed. The drill: one upload
 * is being processed and another is half-received when SIGTERM arrives; both complete during the drain, the
 * process exits 0, and DATA_DIR/tmp and storage/.tmp are empty (not even the process's own folder is left).
 */
describe('SIGTERM mid-upload (fault drill)', function () {
  this.timeout(120_000);
  let dataDir = '';
  let child: Child | null = null;

  before(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-sigterm-'));
  });

  after(async function () {
    this.timeout(60_000);
    await stopChild(child);
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('uploads in flight complete, the process exits 0, and no temp file is left', async () => {
    const big = await noiseJpeg(3000, 2000);
    // The half-received upload waits for the drill, however slow the machine: no idle cut (body-stall tests that).
    const app = await startPixbin(dataDir, { UPLOAD_IDLE_TIMEOUT_MS: '600000' });
    child = app.child;
    const processing = upload(app.url, { bytes: big, filename: 'big.jpg' });
    const receiving = slowUpload(`${app.url}/upload`, big);
    await until(
      () => tempFiles(dataDir),
      (files) => files.some((f) => f.endsWith('.decoded.tif')) && files.filter((f) => f.endsWith('.upload')).length === 2,
      30_000,
      'one upload processing, one half-received',
    );
    const signalledAt = Date.now();
    child.process.kill('SIGTERM');
    await child.waitUntil(() => child!.logs().some((l) => String(l.msg).startsWith('shutting down')), 10_000, 'the shutdown log line');
    const received = receiving.finish();
    const [first, second] = await Promise.all([processing, received]);

    // --- what the clients got --------------------------------------------------------------------------------------
    expect(first.status, `the upload being processed: ${first.body.toString().slice(0, 300)}`).to.equal(201);
    expect(second.status, `the upload being received: ${second.body.toString().slice(0, 300)}`).to.equal(201);
    // --- the process stopped cleanly --------------------------------------------------------------------------------
    const exit = await child.waitForExit(30_000);
    const drainMs = Date.now() - signalledAt;
    expect(exit, child.stderr()).to.deep.equal({ code: 0, signal: null });
    // --- nothing left behind -----------------------------------------------------------------------------------------
    expect(await tempFiles(dataDir), 'temp files').to.deep.equal([]);
    expect(await fs.readdir(path.join(dataDir, 'tmp')), 'tmp/ holds nothing, not even the process’s folder').to.deep.equal([]);
    expect(await fs.readdir(path.join(dataDir, 'storage', '.tmp')), 'storage/.tmp').to.deep.equal([]);
    const { rows, objects } = await rowsAndObjects(dataDir);
    expect(rows).to.equal(2);
    expect(objects).to.have.length(rows * 3);

    // --- a restart on the same DATA_DIR takes uploads ------------------------------------------------------------------
    const again = await startPixbin(dataDir);
    child = again.child;
    expect((await upload(again.url, { bytes: await noiseJpeg(400, 300), filename: 'after.jpg' })).status).to.equal(201);
    console.log(`      drain: both uploads completed and the process exited 0 ${drainMs} ms after SIGTERM, with tmp/ empty`);
  });
});
