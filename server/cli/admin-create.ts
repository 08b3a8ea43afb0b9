import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { createDb } from '../db/knex.js';
import { migrateToLatest } from '../db/migrate.js';
import { createUsersRepo } from '../db/users.repo.js';
import { AppError } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { hashPassword } from '../lib/passwords.js';
import { validateEmail, validateNewPassword, validateUsername } from '../services/auth.service.js';

/**
 * `npm run admin:create -- --email ops@example.com [--username ops] [--password-stdin]`: promotes the account with
 * that address to admin, or creates it (username and a password read from stdin required). In the image:
 * `docker compose exec -T app node dist/server/cli/admin-create.js --email … --username … --password-stdin`.
 */
const usage = 'usage: admin:create --email <address> [--username <name> --password-stdin]';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

try {
  loadDotEnv();
  const config = loadConfig();
  const emailArg = option('email');
  if (!emailArg) throw new Error(usage);
  const email = validateEmail(emailArg);
  const db = createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrateToLatest(db);
    const users = createUsersRepo(db);
    const now = new Date();
    const existing = await users.findByEmail(email);
    if (existing) {
      await users.makeAdmin(existing.id, now);
      process.stdout.write(`${existing.username} <${existing.email}> is now an admin\n`);
    } else {
      const usernameArg = option('username');
      if (!usernameArg || !process.argv.includes('--password-stdin')) throw new Error(`no account uses ${email}; to create one, ${usage}`);
      const username = validateUsername(usernameArg);
      const password = await readStdin();
      validateNewPassword(password, { username, email });
      if (await users.findByUsername(username)) throw new Error(`the username ${username} is taken`);
      const id = randomBase62(16);
      await users.insert({ id, username, email, passwordHash: await hashPassword(password, config.bcryptCost), marketingConsent: false, createdAt: now, role: 'admin' });
      await users.makeAdmin(id, now);
      process.stdout.write(`created admin ${username} <${email}>\n`);
    }
  } finally {
    await db.destroy();
  }
} catch (err) {
  const message = err instanceof ConfigError || err instanceof AppError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`pixbin admin:create: ${message}\n`);
  process.exitCode = 1;
}
