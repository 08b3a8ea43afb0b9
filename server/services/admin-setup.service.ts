import { randomBytes } from 'node:crypto';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { NotFound } from '../errors.js';
import { secretMatchesHash, sha256Hex } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import { hashPassword } from '../lib/passwords.js';
import { validateEmail, validateNewPassword, validateUsername, messages, type AuthDeps } from './auth.service.js';
import { BadRequest } from '../errors.js';

const setupMessages = {
  emailTaken: 'That address already has an account; promote it with npm run admin:create instead.',
};

/**
 * First-run setup: while no admin exists, each start stores the hash of a fresh one-time token and the server logs
 * the setup URL. Only that URL can create the first admin, so nobody can take a new instance before its operator.
 */
const SECRET_NAME = 'admin_setup';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

type SetupRepos = Pick<Repos, 'users' | 'appSecrets' | 'transaction'>;

export async function issueSetupToken(repos: SetupRepos, now: Date): Promise<string | null> {
  if (await repos.users.hasAdmin()) {
    await repos.appSecrets.remove(SECRET_NAME);
    return null;
  }
  const token = randomBytes(32).toString('base64url');
  await repos.transaction((tx) => tx.appSecrets.replace(SECRET_NAME, sha256Hex(token), now));
  return token;
}

export async function isSetupTokenValid(repos: Pick<Repos, 'users' | 'appSecrets'>, token: string): Promise<boolean> {
  if (!TOKEN.test(token) || (await repos.users.hasAdmin())) return false;
  const hash = await repos.appSecrets.find(SECRET_NAME);
  return Boolean(hash && secretMatchesHash(token, hash));
}

export type FirstAdmin = { username: string; email: string; password: string };

/** Creates the first admin and spends the token in one transaction: two racing requests cannot both succeed. */
export async function createFirstAdmin(deps: AuthDeps, token: string, input: FirstAdmin, client: { ip: string | undefined; userAgent: string | undefined }): Promise<UserRecord> {
  if (!(await isSetupTokenValid(deps.repos, token))) throw new NotFound();
  const username = validateUsername(input.username);
  const email = validateEmail(input.email);
  validateNewPassword(input.password, { username, email });
  if (await deps.repos.users.findByUsername(username)) throw new BadRequest(messages.usernameTaken, 'username_taken');
  if (await deps.repos.users.findByEmail(email)) throw new BadRequest(setupMessages.emailTaken, 'email_taken');
  const passwordHash = await hashPassword(input.password, deps.settings.bcryptCost);
  const now = deps.clock();
  const id = randomBase62(16);
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.appSecrets.removeIfValue(SECRET_NAME, sha256Hex(token)))) throw new NotFound();
    await tx.users.insert({ id, username, email, passwordHash, marketingConsent: false, createdAt: now, role: 'admin' });
    await tx.users.changeRole(id, 'admin', 'admin', now); // already an admin: this confirms the address
    await tx.securityLog.insert({ event: 'admin.setup', userId: id, ip: client.ip, userAgent: client.userAgent }, now);
  });
  return (await deps.repos.users.findById(id))!;
}
