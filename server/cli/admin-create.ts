import { ConfigError, loadConfig } from '../config/config.js';
import { loadDotEnv } from '../config/env-file.js';
import { createDb } from '../db/knex.js';
import { migrateToLatest } from '../db/migrate.js';
import { createRepos } from '../db/repos.js';
import type { Role } from '../db/users.repo.js';
import { AppError } from '../errors.js';
import { randomBase62 } from '../lib/ids.js';
import { hashPassword } from '../lib/passwords.js';
import { validateEmail, validateNewPassword, validateUsername } from '../services/auth.service.js';

/**
 * `npm run admin:create -- --email ops@example.com [--role moderator] [--username ops] [--password-stdin]`: gives
 * the account with that address the role (admin unless --role says moderator), or creates it with that role
 * (username and a password read from stdin required). The last admin is never demoted this way. In the image:
 * `docker compose exec -T app node dist/server/cli/admin-create.js --email … --username … --password-stdin`.
 */
const usage = 'usage: admin:create --email <address> [--role admin|moderator] [--username <name> --password-stdin]';
const STAFF_ROLES: readonly Role[] = ['admin', 'moderator'];

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
  const roleArg = option('role') ?? 'admin';
  const role = STAFF_ROLES.find((r) => r === roleArg);
  if (!role) throw new Error(`--role must be admin or moderator; ${usage}`);
  const db = createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrateToLatest(db);
    const { users } = createRepos(db);
    const now = new Date();
    const existing = await users.findByEmail(email);
    if (existing) {
      if (existing.role !== role && !(await users.changeRole(existing.id, existing.role, role, now))) {
        throw new Error(`${existing.username} is the last admin (or their role just changed); make another admin first`);
      }
      if (existing.role === role) await users.changeRole(existing.id, role, role, now); // still marks the address confirmed
      process.stdout.write(`${existing.username} <${existing.email}> is now ${role === 'admin' ? 'an admin' : 'a moderator'}\n`);
    } else {
      const usernameArg = option('username');
      if (!usernameArg || !process.argv.includes('--password-stdin')) throw new Error(`no account uses ${email}; to create one, ${usage}`);
      const username = validateUsername(usernameArg);
      const password = await readStdin();
      validateNewPassword(password, { username, email });
      if (await users.findByUsername(username)) throw new Error(`the username ${username} is taken`);
      const id = randomBase62(16);
      await users.insert({ id, username, email, passwordHash: await hashPassword(password, config.bcryptCost), marketingConsent: false, createdAt: now, role });
      await users.changeRole(id, role, role, now); // marks the address confirmed: the operator vouches for it
      process.stdout.write(`created ${role} ${username} <${email}>\n`);
    }
  } finally {
    await db.destroy();
  }
} catch (err) {
  const message = err instanceof ConfigError || err instanceof AppError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`pixbin admin:create: ${message}\n`);
  process.exitCode = 1;
}
