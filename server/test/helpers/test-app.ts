import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createApp } from '../../app.js';
import { createContainer } from '../../container.js';
import { loadConfig, type Config } from '../../config/config.js';
import type { Db } from '../../db/knex.js';
import { type Repos } from '../../db/repos.js';
import type { RateLimits } from '../../services/rate-limits.service.js';
import { createStorage } from '../../storage/create-storage.js';
import { RECOVERY_PREFIX } from '../../services/recovery.service.js';
import type { WebhookDispatcher } from '../../services/webhook-dispatcher.js';
import type { StorageDriver } from '../../storage/storage.js';
import { s3Env, TEST_BUCKET, testS3, testStorageDriver } from './s3.js';
import { testDatabase } from './test-db.js';

export type TestApp = {
  url: string;
  config: Config;
  db: Db;
  /** The driver this pass runs on: local disk, or the S3 pass's bucket. */
  storage: StorageDriver;
  tempDir: string;
  /** Keys of live objects (what can be served), sorted. */
  storedKeys: () => Promise<string[]>;
  /** Keys in the recovery store, sorted. */
  recoveryKeys: () => Promise<string[]>;
  logs: Array<Record<string, unknown>>;
  /** The webhook dispatcher, polling every WEBHOOK_TEST_POLL_MS (only with the `webhooks` option). */
  webhooks: WebhookDispatcher | null;
  close: () => Promise<void>;
};

/** How often a test app's webhook dispatcher looks for due deliveries. */
export const WEBHOOK_TEST_POLL_MS = 50;

/** Starts the real app on an ephemeral loopback port, against the run's database, with extra env settings. */
export async function startTestApp(
  env: Record<string, string> = {},
  options: {
    clock?: () => Date;
    /** The PUBLIC_URL host: browser tests use localhost, as the fake widget does. */ publicHost?: string;
    /** Swaps the rate limits, e.g. for lower ones. */ rateLimits?: (repos: Repos) => RateLimits;
    /** Hash passwords at the configured cost (12) instead of the fast test cost 4. */ realBcryptCost?: boolean;
    /** Another handle on the run's database (a second replica in one process). */ db?: Db;
    /** Wraps the driver the app gets (e.g. to count reads); storedKeys and friends still use the real one. */ wrapStorage?: (storage: StorageDriver) => StorageDriver;
    /** Lets guests' upload by URL reach these private hosts (production: public addresses only); see ContainerInput. */ guestOutboundAllow?: readonly string[];
    /** Runs the webhook dispatcher (off by default, so other tests see no background queries); see TestApp.webhooks. */ webhooks?: boolean;
  } = {},
): Promise<TestApp> {
  const { dataDir, databaseUrl } = testDatabase();
  const db = options.db ?? testDatabase().db;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: String(port),
    PUBLIC_URL: `http://${options.publicHost ?? '127.0.0.1'}:${port}`,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(testStorageDriver() === 's3' ? s3Env(testS3().endpoint, TEST_BUCKET) : {}),
    ...env,
  });
  const tempDir = path.join(dataDir, 'tmp');
  await fs.mkdir(tempDir, { recursive: true });
  const storage = createStorage(config);
  await storage.check();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const container = createContainer({
    config,
    db,
    storage: options.wrapStorage?.(storage) ?? storage,
    logger,
    tempDir,
    clock: options.clock,
    rateLimits: options.rateLimits,
    bcryptCostForTests: options.realBcryptCost ? undefined : 4,
    webhookPollMs: WEBHOOK_TEST_POLL_MS,
    guestOutboundAllowForTests: options.guestOutboundAllow,
  });
  const app = createApp(container);
  server.on('request', app);
  // The container's own dispatcher, started only when a test asks (main.ts starts it in every process).
  const webhooks = options.webhooks ? container.webhookDispatcher : null;
  webhooks?.start();
  return {
    url: `http://${options.publicHost ?? '127.0.0.1'}:${port}`,
    config,
    db,
    storage,
    tempDir,
    logs,
    webhooks,
    storedKeys: async () => (await listKeys(storage, '')).filter((key) => !key.startsWith(RECOVERY_PREFIX)),
    recoveryKeys: () => listKeys(storage, RECOVERY_PREFIX),
    close: async () => {
      await webhooks?.stop();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          storage.destroy?.();
          resolve();
        });
      });
    },
  };
}

/** Every key under prefix in a store, sorted. */
export async function listKeys(storage: StorageDriver, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of storage.list(prefix)) if (!object.key.startsWith('.')) keys.push(object.key);
  return keys.sort();
}

/** Every file under a folder, relative to it. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name))).sort();
}
