import type { RouteDeps } from '../../route-deps.js';
import { Router } from 'express';

const CHECK_TIMEOUT_MS = 3000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref()),
  ]);
}

export function healthRoutes(deps: Pick<RouteDeps, 'repos' | 'storage'>): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  // Readiness names which dependency failed, but never why: error text could reveal internals.
  router.get('/readyz', async (_req, res) => {
    const [database, storage] = await Promise.allSettled([
      withTimeout(deps.repos.ping()),
      withTimeout(deps.storage.check()),
    ]);
    const checks = { database: database.status === 'fulfilled' ? 'ok' : 'fail', storage: storage.status === 'fulfilled' ? 'ok' : 'fail' };
    const ready = checks.database === 'ok' && checks.storage === 'ok';
    res.status(ready ? 200 : 503).set('Cache-Control', 'no-store').json({ status: ready ? 'ok' : 'unavailable', checks });
  });

  return router;
}
