import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { UserRecord, UsersRepo } from '../db/users.repo.js';
import { NotFound } from '../errors.js';
import { secretMatchesHash, sha256Hex } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import { hashPassword } from '../lib/passwords.js';
import { validateEmail, validateNewPassword, validateUsername, messages, type AuthDeps } from './auth.service.js';
import { BadRequest } from '../errors.js';

/**
 * First-run setup: while no admin exists, each start stores the hash of a fresh one-time token and the server logs
 * the setup URL. Only that URL can create the first admin, so nobody can take a new instance before its operator.
 */
const SECRET_NAME = 'admin_setup';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export async function issueSetupToken(db: Knex, users: UsersRepo, now: Date): Promise<string | null> {
  if (await users.hasAdmin()) {
    await db('app_secrets').where({ name: SECRET_NAME }).delete();
    return null;
  }
  const token = randomBytes(32).toString('base64url');
  await db.transaction(async (trx) => {
    await trx('app_secrets').where({ name: SECRET_NAME }).delete();
    await trx('app_secrets').insert({ name: SECRET_NAME, value: sha256Hex(token), created_at: now });
  });
  return token;
}

export async function isSetupTokenValid(db: Knex, users: UsersRepo, token: string): Promise<boolean> {
  if (!TOKEN.test(token) || (await users.hasAdmin())) return false;
  const row = (await db('app_secrets').where({ name: SECRET_NAME }).first()) as { value: string } | undefined;
  return Boolean(row && secretMatchesHash(token, row.value));
}

export type FirstAdmin = { username: string; email: string; password: string };

/** Creates the first admin and spends the token in one transaction: two racing requests cannot both succeed. */
export async function createFirstAdmin(deps: AuthDeps, token: string, input: FirstAdmin, client: { ip: string | undefined; userAgent: string | undefined }): Promise<UserRecord> {
  if (!(await isSetupTokenValid(deps.db, deps.users, token))) throw new NotFound();
  const username = validateUsername(input.username);
  const email = validateEmail(input.email);
  validateNewPassword(input.password, { username, email });
  if (await deps.users.findByUsername(username)) throw new BadRequest(messages.usernameTaken, 'username_taken');
  if (await deps.users.findByEmail(email)) throw new BadRequest('That address already has an account; promote it with npm run admin:create instead.', 'email_taken');
  const passwordHash = await hashPassword(input.password, deps.settings.bcryptCost);
  const now = deps.clock();
  const id = randomBase62(16);
  await deps.db.transaction(async (trx) => {
    const spent = await trx('app_secrets').where({ name: SECRET_NAME, value: sha256Hex(token) }).delete();
    if (!spent) throw new NotFound();
    await deps.users.insert({ id, username, email, passwordHash, marketingConsent: false, createdAt: now, role: 'admin' }, trx);
    await trx('users').where({ id }).update({ email_verified_at: now });
    await deps.securityLog(trx).insert({ event: 'admin.setup', userId: id, ip: client.ip, userAgent: client.userAgent }, now);
  });
  return (await deps.users.findById(id))!;
}
