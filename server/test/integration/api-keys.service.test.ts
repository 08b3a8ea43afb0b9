import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createRepos, type Repos } from '../../db/repos.js';
import { AppError } from '../../errors.js';
import { authenticateApiKey, createApiKey, parseApiKey, parseScopes, requireScope, revokeApiKey } from '../../services/api-keys.service.js';
import { createRateLimits } from '../../services/rate-limits.service.js';
import { randomBase62 } from '../../lib/ids.js';
import { testDatabase, testDialect } from '../helpers/test-db.js';

const client = { ip: '192.0.2.7', userAgent: 'test' };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    return (err as AppError).code;
  }
  throw new Error('expected a rejection');
}

describe(`API keys: format, storage and authentication (${testDialect()})`, () => {
  let repos: Repos;
  let now: Date;
  const clock = () => now;
  const deps = () => ({ repos, clock });

  async function newUser() {
    const id = randomBase62(16);
    await repos.users.insert({ id, username: `k${id}`, email: `${id}@example.test`, passwordHash: 'x', marketingConsent: false, createdAt: now });
    return (await repos.users.findById(id))!;
  }

  beforeEach(() => {
    repos = createRepos(testDatabase().db);
    now = new Date('2026-12-03T12:00:00Z');
  });

  it('creates pxb_<id>_<secret> with 32+ random bytes and stores only the SHA-256 of the secret', async () => {
    const user = await newUser();
    const { fullKey, record } = await createApiKey(deps(), user, { name: '  ShareX\u0000 laptop ', scopes: ['images:write', 'images:read'], lifetime: '30d' }, client);
    const parsed = parseApiKey(fullKey)!;
    expect(parsed.keyId).to.equal(record.id);
    expect(Buffer.from(parsed.secret, 'base64url').length).to.be.at.least(32);
    const row = await testDatabase().db('api_keys').where({ id: record.id }).first();
    expect(row.secret_hash).to.equal(createHash('sha256').update(parsed.secret).digest('hex'));
    expect(JSON.stringify(row)).not.to.include(parsed.secret);
    expect(row.name).to.equal('ShareX laptop');
    expect(row.scopes).to.equal('images:read images:write'); // canonical order
    expect(record.expiresAt!.toISOString()).to.equal('2027-01-02T12:00:00.000Z');
    const logged = await testDatabase().db('security_log').where({ user_id: user.id, event: 'api_key.create' });
    expect(logged).to.have.length(1);
    expect(JSON.stringify(logged)).not.to.include(parsed.secret);
  });

  it('authenticates the right key, and refuses malformed, unknown, wrong-secret, revoked and expired keys with 401 codes', async () => {
    const user = await newUser();
    const { fullKey, record } = await createApiKey(deps(), user, { name: 'k', scopes: 'account:read', lifetime: '7d' }, client);
    const caller = await authenticateApiKey(deps(), fullKey);
    expect(caller).to.include({ kind: 'api_key', keyId: record.id });
    expect(caller.user.id).to.equal(user.id);
    expect(caller.scopes).to.deep.equal(['account:read']);

    const wrongSecret = `pxb_${record.id}_${'A'.repeat(43)}`;
    const unknownId = `pxb_${'B'.repeat(16)}_${parseApiKey(fullKey)!.secret}`;
    for (const bad of ['', 'pxb_', 'Bearer x', fullKey.slice(0, -1), `${fullKey}A`, wrongSecret, unknownId, fullKey.replace('pxb_', 'pxc_')]) {
      expect(await codeOf(authenticateApiKey(deps(), bad)), bad).to.equal('invalid_api_key');
    }

    now = new Date(now.getTime() + 8 * 86_400_000);
    expect(await codeOf(authenticateApiKey(deps(), fullKey))).to.equal('api_key_expired');

    const second = await createApiKey(deps(), user, { name: 'k2', scopes: ['images:read'], lifetime: 'never' }, client);
    await revokeApiKey(deps(), user.id, second.record.id, client);
    expect(await codeOf(authenticateApiKey(deps(), second.fullKey))).to.equal('api_key_revoked');
  });

  it('stops working while the account is suspended or waiting for deletion', async () => {
    const user = await newUser();
    const { fullKey } = await createApiKey(deps(), user, { name: 'k', scopes: ['images:read'], lifetime: '' }, client);
    await repos.users.setSuspension(user.id, { at: now, reason: 'test' });
    expect(await codeOf(authenticateApiKey(deps(), fullKey))).to.equal('account_suspended');
    await repos.users.setSuspension(user.id, null);
    await repos.users.markDeletionRequested(user.id, now);
    expect(await codeOf(authenticateApiKey(deps(), fullKey))).to.equal('account_pending_deletion');
  });

  it('records the last use at most once a minute', async () => {
    const user = await newUser();
    const { fullKey, record } = await createApiKey(deps(), user, { name: 'k', scopes: ['images:read'], lifetime: 'never' }, client);
    const lastUsed = async () => (await repos.apiKeys.findById(record.id))!.lastUsedAt?.toISOString();
    await authenticateApiKey(deps(), fullKey);
    expect(await lastUsed()).to.equal(now.toISOString());
    const first = now;
    now = new Date(first.getTime() + 30_000);
    await authenticateApiKey(deps(), fullKey);
    expect(await lastUsed()).to.equal(first.toISOString());
    now = new Date(first.getTime() + 61_000);
    await authenticateApiKey(deps(), fullKey);
    expect(await lastUsed()).to.equal(now.toISOString());
  });

  it('revokes only the owner’s key: another account’s id is a 404 and changes nothing', async () => {
    const owner = await newUser();
    const other = await newUser();
    const { record } = await createApiKey(deps(), owner, { name: 'k', scopes: ['images:read'], lifetime: 'never' }, client);
    expect(await codeOf(revokeApiKey(deps(), other.id, record.id, client))).to.equal('not_found');
    expect((await repos.apiKeys.findById(record.id))!.revokedAt).to.equal(null);
  });

  it('validates names, scopes and lifetimes, naming the field', async () => {
    const user = await newUser();
    const field = async (input: { name: string; scopes: unknown; lifetime: string }) => {
      try {
        await createApiKey(deps(), user, input, client);
      } catch (err) {
        return `${(err as AppError).code}:${(err as AppError).field}`;
      }
      return 'created';
    };
    expect(await field({ name: ' ', scopes: ['images:read'], lifetime: '' })).to.equal('name_required:name');
    expect(await field({ name: 'x'.repeat(101), scopes: ['images:read'], lifetime: '' })).to.equal('name_too_long:name');
    expect(await field({ name: 'k', scopes: [], lifetime: '' })).to.equal('no_scopes:scopes');
    expect(await field({ name: 'k', scopes: ['admin'], lifetime: '' })).to.equal('bad_scope:scopes');
    expect(await field({ name: 'k', scopes: [{ evil: 1 }], lifetime: '' })).to.equal('bad_scope:scopes');
    expect(await field({ name: 'k', scopes: ['images:read'], lifetime: '2d' })).to.equal('bad_expiry:expires');
    expect(await testDatabase().db('api_keys').where({ user_id: user.id })).to.have.length(0);
    expect(parseScopes('albums:write, images:read')).to.deep.equal(['images:read', 'albums:write']);
  });

  it('requireScope names the missing scope', () => {
    const caller = { kind: 'api_key', user: {} as never, keyId: 'x', scopes: ['images:read'] } as const;
    expect(() => requireScope(caller, 'images:read')).not.to.throw();
    try {
      requireScope(caller, 'images:delete');
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.include({ code: 'insufficient_scope', field: 'images:delete' });
      expect((err as Error).message).to.include('images:delete');
    }
  });

  it('the failed-key limit blocks an address once it runs out, and check() reports what is left without spending', async () => {
    const limits = createRateLimits(repos, { apiAuthFailPerIp: { points: 2 } });
    const ip = `198.51.100.${Math.floor(Math.random() * 200)}`;
    expect(await limits.check('apiAuthFailPerIp', ip)).to.include({ limit: 2, remaining: 2 });
    expect(await limits.consume('apiAuthFailPerIp', ip)).to.include({ limit: 2, remaining: 1 });
    expect(await limits.check('apiAuthFailPerIp', ip)).to.include({ remaining: 1 });
    await limits.consume('apiAuthFailPerIp', ip);
    expect(await codeOf(limits.consume('apiAuthFailPerIp', ip))).to.equal('rate_limited');
    expect(await codeOf(limits.check('apiAuthFailPerIp', ip))).to.equal('rate_limited');
  });
});
