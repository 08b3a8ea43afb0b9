import type { RouteDeps } from '../../route-deps.js';
import { Router } from 'express';
import { isStorageFull, storageFullLog } from '../../../lib/storage-full.js';
import { freeBytes } from '../../../lib/temp-area.js';

const CHECK_TIMEOUT_MS = 3000;
/** Below this, the upload temp folder (DATA_DIR/tmp) cannot take even a small upload: the disk counts as full. */
const TEMP_FULL_BELOW_BYTES = 1024 * 1024;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref()),
  ]);
}

/** Whether the disk under the upload temp folder is (as good as) full, failing like the storage check does. */
async function checkTempRoom(tempDir: string): Promise<void> {
  const free = await freeBytes(tempDir);
  if (free !== null && free < TEMP_FULL_BELOW_BYTES) throw Object.assign(new Error(`no space left on device under ${tempDir}`), { code: 'ENOSPC' });
}

export function healthRoutes(deps: Pick<RouteDeps, 'repos' | 'storage' | 'tempDir' | 'logger'>): Router {
  const router = Router();
  const diskFull = storageFullLog(deps.logger);

  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  // Readiness names which dependency failed, but never why: error text could reveal internals. A full disk
  // (the storage probe or DATA_DIR/tmp has no room) is named as such, 'full', and goes into the disk-full log.
  router.get('/readyz', async (_req, res) => {
    const [database, storage, temp] = await Promise.allSettled([
      withTimeout(deps.repos.ping()),
      withTimeout(deps.storage.check()),
      withTimeout(checkTempRoom(deps.tempDir)),
    ]);
    const full = [storage, temp].find((check) => check.status === 'rejected' && isStorageFull(check.reason)) as PromiseRejectedResult | undefined;
    if (full) diskFull.failed(full.reason, 'background');
    const storageCheck = full ? 'full' : storage.status === 'fulfilled' ? 'ok' : 'fail';
    const checks = { database: database.status === 'fulfilled' ? 'ok' : 'fail', storage: storageCheck };
    const ready = checks.database === 'ok' && checks.storage === 'ok';
    res.status(ready ? 200 : 503).set('Cache-Control', 'no-store').json({ status: ready ? 'ok' : 'unavailable', checks });
  });

  return router;
}
