import type { Server } from 'node:http';
import { BootError, prepareRuntime } from './boot.js';
import { cannotListen, EXIT_CANNOT_LISTEN, failWorkerStartup, runPrimary, workerRole, type WorkerRole } from './cluster.js';
import { ConfigError, loadConfig, startupWarnings, type Config } from './config/config.js';
import { loadDotEnv } from './config/env-file.js';
import { onConfigError } from './config/on-error.js';
import { failStartup } from './config-error-server.js';
import { createLogger } from './logger.js';
import { StorageError } from './storage/storage.js';
import { settleTempFiles } from './lib/temp-area.js';

/**
 * What serves HTTP, loaded while the database is being prepared (and never by a cluster primary, which serves
 * nothing): importing the app is most of the start-up time.
 */
const loadServing = () =>
  Promise.all([
    import('./app.js'),
    import('./container.js'),
    import('./services/admin-setup.service.js'),
    import('./jobs/index.js'),
    import('./jobs/scheduler.js'),
    import('./http/metrics-endpoint.js'),
  ]).then(([app, container, setup, jobs, scheduler, metrics]) => ({ ...app, ...container, ...setup, ...jobs, ...scheduler, ...metrics }));

// Start-up order: config → database (migrate) → storage check → HTTP. SIGTERM drains and stops.
// WEB_CONCURRENCY > 1: this process becomes the cluster primary (cluster.ts) and each worker runs serve().
async function main(): Promise<void> {
  let config: Config;
  const onError = onConfigError();
  const role = workerRole();
  // A worker tells its primary why it cannot start; the primary exits (or shows the 503 page) once, for all of them.
  const fail = (message: string) => (role ? failWorkerStartup(message) : failStartup(message, onError));
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pixbin: ${err.message}\n`);
      fail(err.message);
      return;
    }
    throw err;
  }
  if (!role && config.webConcurrency > 1) return runPrimary(config, onError);
  await serve(config, role, fail);
}

async function serve(configured: Config, role: WorkerRole | null, fail: (message: string) => void): Promise<void> {
  // Scheduled jobs run in one worker only (its replacement takes over); a lone process runs them as configured.
  const config: Config = role && !role.jobs ? { ...configured, jobsEnabled: false } : configured;
  const rootLogger = createLogger(config.logLevel);
  const logger = role ? rootLogger.child({ worker: role.slot, pid: process.pid }) : rootLogger;
  const serving = loadServing();
  serving.catch(() => undefined); // a failed import surfaces at the await below, not as an unhandled rejection
  let runtime;
  try {
    runtime = await prepareRuntime(
      config,
      (applied) => {
        if (applied.length) logger.info({ migrations: applied }, 'applied database migrations');
      },
      { preparedByPrimary: role !== null },
    );
  } catch (err) {
    if (err instanceof BootError || err instanceof StorageError) {
      logger.fatal(err.message);
      fail(err.message);
      return;
    }
    throw err;
  }
  const { createApp, createContainer, issueSetupToken, JOBS, createScheduler, SchedulerConfigError, startMetricsListener } = await serving;
  const container = createContainer({ config, logger, ...runtime });
  let scheduler;
  try {
    scheduler = createScheduler(container, JOBS, { metrics: container.metrics });
  } catch (err) {
    if (!(err instanceof SchedulerConfigError)) throw err;
    await container.imageFeed?.close();
    await runtime.db.destroy();
    logger.fatal(err.message);
    fail(err.message);
    return;
  }
  // In a cluster the primary warns once, and one worker issues the setup link (a second would replace the first).
  if (!role) for (const warning of startupWarnings(config)) logger.warn(warning);
  if (!role || role.first) {
    const setupToken = await issueSetupToken(container.repos, container.clock());
    if (setupToken) {
      logger.warn({ setupUrl: `${config.publicUrl}/setup/${setupToken}` }, `No admin account yet. Open ${config.publicUrl}/setup/${setupToken} to create the first one (the link works once; a restart prints a new one).`);
    }
  }

  const app = createApp(container);
  // METRICS_LISTEN: /metrics on its own address (no token; bind it to loopback or a private network). With several
  // workers the one in slot 1 serves it (a replacement too), with the whole cluster's numbers (cluster-metrics.ts).
  let metricsServer: Server | null = null;
  if (config.metrics?.listen && container.metricsExposition && (!role || role.slot === 1)) {
    const { host, port } = config.metrics.listen;
    try {
      metricsServer = await startMetricsListener(container.metricsExposition, config.metrics.listen);
      logger.info({ metrics: `${host}:${port}` }, 'metrics are served on METRICS_LISTEN');
    } catch (err) {
      const message = `METRICS_LISTEN ${host}:${port}: cannot listen (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      await container.imageFeed?.close();
      await runtime.db.destroy();
      logger.fatal(message);
      fail(message);
      return;
    }
  }
  let stopping = false;
  // Express 5 hands a listen error (port in use, not permitted) to this callback: without a port there is nothing to
  // serve, so the process says why and exits EXIT_CANNOT_LISTEN (in a cluster, the primary says it once and exits).
  const server: Server = app.listen(config.port, config.host, (err?: Error) => {
    if (err) {
      const message = cannotListen(err as NodeJS.ErrnoException, config);
      stopping = true; // a SIGTERM now has nothing to drain: this exits on its own
      metricsServer?.close();
      void (async () => {
        try {
          await container.imageFeed?.close();
          await runtime.db.destroy();
          runtime.storage.destroy?.();
        } catch {
          // exiting anyway: the message below is what matters
        }
        const fields = { code: (err as NodeJS.ErrnoException).code, port: config.port, host: config.host };
        if (role) return failWorkerStartup(message, { exitCode: EXIT_CANNOT_LISTEN, fields });
        logger.fatal(fields, message);
        process.exit(EXIT_CANNOT_LISTEN);
      })();
      return;
    }
    logger.info({ url: config.publicUrl, port: config.port, database: runtime.db.dialect }, 'Pixbin is listening');
    // Jobs start once the port is ours: a second instance that cannot listen runs nothing.
    scheduler.start();
    // Every process sends webhooks (claims are exclusive, so each delivery goes out once across workers and replicas).
    container.webhookDispatcher.start();
  });
  if (role?.jobs && config.jobsEnabled) logger.info({ jobs: scheduler.jobs.length }, 'scheduled jobs run in this worker');
  server.requestTimeout = 10 * 60_000; // a slow phone on a 25 MB upload still finishes
  server.headersTimeout = 30_000;

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
    const webhooksStopped = container.webhookDispatcher.stop(); // no new claims; sends in flight are recorded first
    const metricsClosed = new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    metricsServer?.closeAllConnections();
    server.close(async () => {
      clearTimeout(force);
      await jobsStopped;
      await webhooksStopped;
      await metricsClosed;
      await container.imageFeed?.close();
      await runtime.db.destroy();
      runtime.storage.destroy?.();
      await settleTempFiles(); // temp files of uploads that finished during the drain, and this process's temp folders
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
