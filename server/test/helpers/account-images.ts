import { expect } from 'chai';
import { toRow, type NewImage } from '../../db/images.repo.js';
import { insertInBatches } from '../../db/knex.js';
import { sha256Hex } from '../../lib/hash.js';
import { newImageId } from '../../lib/ids.js';
import type { TestUser } from './accounts.js';
import { multipart, type Part, type RawResponse } from './http.js';
import { type TestApp } from './test-app.js';

/** The CSRF token of a signed-in client, read from a page that has forms (it also sets the CSRF cookie). */
export const csrfOf = (user: TestUser): Promise<string> => user.client.csrfFrom('/account/images');

/**
 * Uploads as a signed-in user would from the home page: the CSRF token first, then the file. Pass csrf: false
 * to leave it out, 'header' to send it as X-CSRF-Token, 'after' to send it after the file, or a string to send that.
 */
export async function ownerUpload(
  user: TestUser,
  bytes: Buffer,
  options: { csrf?: false | 'header' | 'after' | string; filename?: string; json?: boolean } = {},
): Promise<RawResponse> {
  const token = typeof options.csrf === 'string' && !['header', 'after'].includes(options.csrf) ? options.csrf : options.csrf === false ? null : await csrfOf(user);
  const file: Part = { name: 'file', value: bytes, filename: options.filename ?? 'photo.png', contentType: 'image/png' };
  const parts: Part[] = [];
  if (token && options.csrf !== 'header' && options.csrf !== 'after') parts.push({ name: '_csrf', value: token });
  parts.push(file);
  if (token && options.csrf === 'after') parts.push({ name: '_csrf', value: token });
  const { body, contentType } = multipart(parts);
  return user.client.request('/upload', {
    method: 'POST',
    headers: {
      'Content-Type': contentType,
      'Content-Length': String(body.length),
      Accept: options.json === false ? 'text/html' : 'application/json',
      ...(token && options.csrf === 'header' ? { 'X-CSRF-Token': token } : {}),
    },
    body,
  });
}

/** Posts a form (or JSON with json: true) as a signed-in user, with the CSRF token from My images. */
export async function ownerPost(user: TestUser, path: string, fields: Record<string, string | string[]>, options: { json?: boolean; csrf?: boolean } = {}): Promise<RawResponse> {
  const token = options.csrf === false ? null : await csrfOf(user);
  const form = new URLSearchParams();
  if (token) form.append('_csrf', token);
  for (const [name, value] of Object.entries(fields)) for (const v of ([] as string[]).concat(value)) form.append(name, v);
  const body = Buffer.from(form.toString());
  return user.client.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length), Accept: options.json ? 'application/json' : 'text/html' },
    body,
  });
}

/** Posts JSON as a signed-in user, the token in the X-CSRF-Token header. */
export async function ownerPostJson(user: TestUser, path: string, payload: object): Promise<RawResponse> {
  const token = await csrfOf(user);
  const body = Buffer.from(JSON.stringify(payload));
  return user.client.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), Accept: 'application/json', 'X-CSRF-Token': token },
    body,
  });
}

export type Usage = { used: number; quota: number | null; stored: number; rows: number };

/** What the account's used_bytes says, and what its stored images really add up to. */
export async function usageOfUser(app: TestApp, userId: string): Promise<Usage> {
  const user = (await app.db('users').where({ id: userId }).first()) as { used_bytes: number | string; quota_bytes: number | string | null };
  const rows = (await app.db('images').where({ owner_id: userId }).select('size', 'thumb_size', 'display_size')) as Array<{ size: number | string; thumb_size: number | string; display_size: number | string | null }>;
  return {
    used: Number(user.used_bytes),
    quota: user.quota_bytes === null ? null : Number(user.quota_bytes),
    stored: rows.reduce((sum, r) => sum + Number(r.size) + Number(r.thumb_size) + Number(r.display_size ?? 0), 0),
    rows: rows.length,
  };
}

/** used_bytes equals the sum of the account's stored images, and storage holds exactly two files per row. */
export async function expectConsistentUsage(app: TestApp, userId: string): Promise<Usage> {
  const usage = await usageOfUser(app, userId);
  expect(usage.used, 'used_bytes equals the sum of stored images').to.equal(usage.stored);
  const totalRows = Number((await app.db('images').count({ n: '*' }))[0]!.n);
  expect(await app.storedKeys(), 'three stored files (original, thumbnail, display) per image row').to.have.length(totalRows * 3);
  return usage;
}

/** Image rows straight into the database (no bytes stored): for listing tests that never fetch the files. */
export function fakeImage(overrides: Partial<NewImage> & { ownerId: string | null }): NewImage {
  return {
    id: newImageId(),
    deleteKeyHash: sha256Hex('not a real key'),
    originalName: 'photo.png',
    mime: 'image/png',
    ext: 'png',
    size: 1000,
    width: 10,
    height: 10,
    frames: 1,
    sha256: 'a'.repeat(64),
    thumbSize: 100,
    thumbWidth: 10,
    thumbHeight: 10,
    thumbSha256: 'b'.repeat(64),
    createdAt: new Date('2026-01-01T00:00:00.000Z'),
    visibility: 'unlisted',
    title: null,
    ...overrides,
  };
}

export async function insertFakeImages(app: TestApp, images: NewImage[]): Promise<void> {
  await app.db.transaction((trx) => insertInBatches(trx, 'images', images.map(toRow)));
}
