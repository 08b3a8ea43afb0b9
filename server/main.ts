import type { Server } from 'node:http';
import { createApp } from './app.js';
import { BootError, prepareRuntime } from './boot.js';
import { ConfigError, loadConfig, startupWarnings, type Config } from './config/config.js';
import { loadDotEnv } from './config/env-file.js';
import { onConfigError } from './config/on-error.js';
import { failStartup } from './config-error-server.js';
import { createLogger } from './logger.js';
import { createContainer } from './container.js';
import { issueSetupToken } from './services/admin-setup.service.js';
import { StorageError } from './storage/storage.js';
import { JOBS } from './jobs/index.js';
import { createScheduler, SchedulerConfigError } from './jobs/scheduler.js';

// Start-up order: config → database (migrate) → storage check → HTTP. SIGTERM drains and stops.
async function main(): Promise<void> {
  let config: Config;
  const onError = onConfigError();
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pixbin: ${err.message}\n`);
      failStartup(err.message, onError);
      return;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let runtime;
  try {
    runtime = await prepareRuntime(config, (applied) => {
      if (applied.length) logger.info({ migrations: applied }, 'applied database migrations');
    });
  } catch (err) {
    if (err instanceof BootError || err instanceof StorageError) {
      logger.fatal(err.message);
      failStartup(err.message, onError);
      return;
    }
    throw err;
  }
  const container = createContainer({ config, logger, ...runtime });
  let scheduler;
  try {
    scheduler = createScheduler(container, JOBS);
  } catch (err) {
    if (!(err instanceof SchedulerConfigError)) throw err;
    await container.imageFeed?.close();
    await runtime.db.destroy();
    logger.fatal(err.message);
    failStartup(err.message, onError);
    return;
  }
  for (const warning of startupWarnings(config)) logger.warn(warning);
  const setupToken = await issueSetupToken(container.repos, container.clock());
  if (setupToken) {
    logger.warn({ setupUrl: `${config.publicUrl}/setup/${setupToken}` }, `No admin account yet. Open ${config.publicUrl}/setup/${setupToken} to create the first one (the link works once; a restart prints a new one).`);
  }

  const app = createApp(container);
  const server: Server = app.listen(config.port, config.host, () => {
    logger.info({ url: config.publicUrl, port: config.port, database: runtime.db.dialect }, 'Pixbin is listening');
  });
  scheduler.start();
  server.requestTimeout = 10 * 60_000; // a slow phone on a 25 MB upload still finishes
  server.headersTimeout = 30_000;

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, letting requests finish');
    const force = setTimeout(() => {
      logger.warn('shutdown timeout reached; closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    const jobsStopped = scheduler.stop(); // no new runs; a run in progress finishes before the database closes
    server.close(async () => {
      clearTimeout(force);
      await jobsStopped;
      await runtime.db.destroy();
      runtime.storage.destroy?.();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`pixbin: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
