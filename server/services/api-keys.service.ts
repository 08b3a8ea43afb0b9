import { randomBytes } from 'node:crypto';
import type { ApiKeyRecord } from '../db/api-keys.repo.js';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { BadRequest, Conflict, Forbidden, NotFound, Unauthorized } from '../errors.js';
import { sha256Hex, secretMatchesHash } from '../lib/hash.js';
import { randomBase62 } from '../lib/ids.js';
import { DAY_MS } from '../lib/time.js';
import { cleanTitle, titleLength } from '../lib/title.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { API_SCOPES, type ApiKeyCaller, type ApiScope } from './caller.js';

/**
 * API keys: `pxb_<keyId>_<secret>`. The key id is public (16 base62 characters, the row's primary key); the secret
 * is 32 random bytes, base64url. Only the secret's SHA-256 is stored and it is compared in constant time. The
 * whole key exists only in the answer to the request that created it: it is never stored, logged or flashed.
 */
export type ApiKeysDeps = { repos: Pick<Repos, 'apiKeys' | 'auditLog' | 'securityLog' | 'transaction'>; clock: () => Date };

export const API_KEY_PREFIX = 'pxb_';
export const KEY_ID_LENGTH = 16;
const SECRET_BYTES = 32;
const KEY_ID_PATTERN = new RegExp(`^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`);
const KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}([0-9A-Za-z]{${KEY_ID_LENGTH}})_([A-Za-z0-9_-]{43})$`);
export const MAX_KEY_NAME_CHARS = 100;
/** Active (unrevoked) keys an account may hold at once. */
export const MAX_ACTIVE_KEYS = 50;
/** Offered lifetimes, in days (null: until revoked). */
export const KEY_LIFETIMES = [
  { key: 'never', label: 'Never (until revoked)', days: null },
  { key: '7d', label: '7 days', days: 7 },
  { key: '30d', label: '30 days', days: 30 },
  { key: '90d', label: '90 days', days: 90 },
  { key: '365d', label: '1 year', days: 365 },
] as const;

export const messages = {
  nameRequired: 'Give the key a name, so you can tell your keys apart (for example "ShareX on my laptop").',
  nameTooLong: `A key name can be at most ${MAX_KEY_NAME_CHARS} characters.`,
  noScopes: 'Choose at least one thing the key may do.',
  badScope: `Scopes are ${API_SCOPES.join(', ')}.`,
  badLifetime: `Choose when the key expires: ${KEY_LIFETIMES.map((l) => l.key).join(', ')}.`,
  tooManyKeys: `An account can hold at most ${MAX_ACTIVE_KEYS} active keys. Revoke one you no longer use first.`,
  invalidKey: 'The API key is not valid. Check that it was copied whole; a revoked key cannot be used again.',
  revoked: 'This API key was revoked. Create a new one on /account/api-keys.',
  expired: 'This API key has expired. Create a new one on /account/api-keys.',
  suspended: 'The account this key belongs to is suspended.',
  pendingDeletion: 'The account this key belongs to is waiting to be deleted; its keys stop working until it is restored.',
  missingScope: (scope: ApiScope) => `This key lacks the "${scope}" scope. Create a key that includes it on /account/api-keys.`,
};

/** Splits a presented key into id and secret, or null when it does not have the shape of a Pixbin key. */
export function parseApiKey(raw: string): { keyId: string; secret: string } | null {
  const match = KEY_PATTERN.exec(raw);
  return match ? { keyId: match[1]!, secret: match[2]! } : null;
}

/** How a key is shown in lists: its public id, never the secret. */
export const keyPreview = (keyId: string): string => `${API_KEY_PREFIX}${keyId}_…`;

export function parseScopes(raw: unknown): ApiScope[] {
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(/[\s,]+/) : [])).filter(Boolean);
  if (Array.isArray(raw) && raw.some((v) => typeof v !== 'string')) throw new BadRequest(messages.badScope, 'bad_scope', 'scopes');
  if (list.length === 0) throw new BadRequest(messages.noScopes, 'no_scopes', 'scopes');
  if (!list.every((s) => (API_SCOPES as readonly string[]).includes(s))) throw new BadRequest(messages.badScope, 'bad_scope', 'scopes');
  // Stored in the canonical order, so lists read the same whatever order they were ticked in.
  return API_SCOPES.filter((s) => list.includes(s));
}

export function cleanKeyName(raw: string): string {
  const name = cleanTitle(raw);
  if (!name) throw new BadRequest(messages.nameRequired, 'name_required', 'name');
  if (titleLength(name) > MAX_KEY_NAME_CHARS) throw new BadRequest(messages.nameTooLong, 'name_too_long', 'name');
  return name;
}

export function expiryFor(lifetime: string, now: Date): Date | null {
  const choice = KEY_LIFETIMES.find((l) => l.key === (lifetime || 'never'));
  if (!choice) throw new BadRequest(messages.badLifetime, 'bad_expiry', 'expires');
  return choice.days === null ? null : new Date(now.getTime() + choice.days * DAY_MS);
}

export type NewApiKey = { record: ApiKeyRecord; fullKey: string };

export type Client = { ip: string | undefined; userAgent: string | undefined };

/**
 * Creates a key for the account. The caller (the route) has already checked that the password was typed recently.
 * Returns the whole key, which exists nowhere else: show it once and forget it.
 */
export async function createApiKey(deps: ApiKeysDeps, user: UserRecord, input: { name: string; scopes: unknown; lifetime: string }, client: Client): Promise<NewApiKey> {
  const name = cleanKeyName(input.name);
  const scopes = parseScopes(input.scopes);
  const now = deps.clock();
  const expiresAt = expiryFor(input.lifetime, now);
  const active = (await deps.repos.apiKeys.listForUser(user.id)).filter((k) => !k.revokedAt && !(k.expiresAt && k.expiresAt <= now));
  if (active.length >= MAX_ACTIVE_KEYS) throw new Conflict(messages.tooManyKeys, 'too_many_keys');
  const id = randomBase62(KEY_ID_LENGTH);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const record: ApiKeyRecord = { id, userId: user.id, name, scopes, secretHash: sha256Hex(secret), createdAt: now, expiresAt, lastUsedAt: null, revokedAt: null };
  await deps.repos.transaction(async (tx) => {
    await tx.apiKeys.insert(record);
    await tx.securityLog.insert({ event: 'api_key.create', userId: user.id, ...client, detail: { keyId: id, scopes } }, now);
  });
  return { record, fullKey: `${API_KEY_PREFIX}${id}_${secret}` };
}

export function listApiKeys(deps: ApiKeysDeps, userId: string): Promise<ApiKeyRecord[]> {
  return deps.repos.apiKeys.listForUser(userId);
}

/** The owner's key by id, or the same 404 as for a key that does not exist. */
export async function ownApiKey(deps: ApiKeysDeps, userId: string, keyId: string): Promise<ApiKeyRecord> {
  const key = KEY_ID_PATTERN.test(keyId) ? await deps.repos.apiKeys.findById(keyId) : null;
  if (!key || key.userId !== userId) throw new NotFound();
  return key;
}

export async function revokeApiKey(deps: ApiKeysDeps, userId: string, keyId: string, client: Client): Promise<void> {
  const key = await ownApiKey(deps, userId, keyId);
  if (key.revokedAt) return; // revoking twice is harmless
  const now = deps.clock();
  await deps.repos.transaction(async (tx) => {
    await tx.apiKeys.revoke(userId, key.id, now);
    await tx.securityLog.insert({ event: 'api_key.revoke', userId, ...client, detail: { keyId: key.id } }, now);
  });
}

/** Staff revoke one of a user's keys; the action is audited. */
export async function staffRevokeApiKey(deps: ApiKeysDeps, actor: StaffActor, userId: string, keyId: string): Promise<void> {
  const key = await ownApiKey(deps, userId, keyId);
  if (key.revokedAt) return;
  const now = deps.clock();
  await deps.repos.transaction(async (tx) => {
    await tx.apiKeys.revoke(userId, key.id, now);
    await recordStaffAction(tx, actor, { action: 'api_key.revoke', targetType: 'user', targetId: userId, detail: { keyId: key.id, name: key.name } }, now);
  });
}

/**
 * A 401 for a key whose secret matched but which may not be used (revoked, expired, or its account suspended or
 * pending deletion). It names the key and account, so the request log can show the owner that the key is still
 * being tried; refusals of unknown ids and wrong secrets never carry this (they could be anyone's guess).
 */
export class RefusedApiKey extends Unauthorized {
  constructor(
    message: string,
    code: string,
    readonly key: { keyId: string; userId: string },
  ) {
    super(message, code);
  }
}

// Compared against when the key id is unknown, so a miss costs the same hashing and comparison as a wrong secret.
const DECOY_HASH = sha256Hex(randomBytes(32));

/**
 * Finds the account behind a presented key, or throws 401. Malformed, unknown and wrong-secret keys get the same
 * answer and take the same work; only the holder of the right secret learns that the key was revoked or expired.
 */
export async function authenticateApiKey(deps: { repos: Pick<Repos, 'apiKeys' | 'users'>; clock: () => Date }, raw: string): Promise<ApiKeyCaller> {
  const parsed = parseApiKey(raw);
  const key = parsed ? await deps.repos.apiKeys.findById(parsed.keyId) : null;
  const matches = secretMatchesHash(parsed?.secret ?? raw, key?.secretHash ?? DECOY_HASH);
  if (!parsed || !key || !matches) throw new Unauthorized(messages.invalidKey, 'invalid_api_key');
  const now = deps.clock();
  const owned = { keyId: key.id, userId: key.userId };
  if (key.revokedAt) throw new RefusedApiKey(messages.revoked, 'api_key_revoked', owned);
  if (key.expiresAt && key.expiresAt <= now) throw new RefusedApiKey(messages.expired, 'api_key_expired', owned);
  const user = await deps.repos.users.findById(key.userId);
  if (!user) throw new Unauthorized(messages.invalidKey, 'invalid_api_key');
  if (user.suspendedAt) throw new RefusedApiKey(messages.suspended, 'account_suspended', owned);
  if (user.deletionRequestedAt) throw new RefusedApiKey(messages.pendingDeletion, 'account_pending_deletion', owned);
  await deps.repos.apiKeys.touch(key.id, now);
  return Object.freeze({ kind: 'api_key', user, keyId: key.id, scopes: Object.freeze(key.scopes as ApiScope[]) });
}

/** Throws 403 naming the scope when the key was not given it. */
export function requireScope(caller: ApiKeyCaller, scope: ApiScope): void {
  if (!caller.scopes.includes(scope)) {
    const err = new Forbidden(messages.missingScope(scope), 'insufficient_scope');
    err.field = scope;
    throw err;
  }
}
