/**
 * A second process that sends webhooks from the test database (as a cluster worker or another replica would): it
 * opens its own connection, prints {"ready":true}, waits for the file GO_FILE to appear (so several start
 * together), claims and sends until nothing is left to claim, prints {"sent":n} and exits.
 */
import { existsSync } from 'node:fs';
import pino from 'pino';
import { createDb } from '../../db/knex.js';
import { createRepos } from '../../db/repos.js';
import { NO_METRICS } from '../../metrics/types.js';
import { createOutbound } from '../../outbound/outbound.js';
import { createWebhookDispatcher } from '../../services/webhook-dispatcher.js';

const env = process.env;
const db = createDb({ databaseUrl: env.DATABASE_URL || undefined, dataDir: env.DATA_DIR! });
const logger = pino({ level: 'warn' });
const dispatcher = createWebhookDispatcher({
  repos: createRepos(db),
  outbound: createOutbound({ allow: ['127.0.0.1'] }),
  clock: () => new Date(),
  logger,
  metrics: NO_METRICS,
  mailer: { send: async () => undefined },
  publicUrl: 'http://127.0.0.1',
  batch: Number(env.BATCH ?? 5),
  concurrency: 3,
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
while (!existsSync(env.GO_FILE!)) await new Promise((r) => setTimeout(r, 5));
let sent = 0;
for (let n = await dispatcher.runOnce(); n > 0; n = await dispatcher.runOnce()) sent += n;
process.stdout.write(`${JSON.stringify({ sent })}\n`);
await db.destroy();
