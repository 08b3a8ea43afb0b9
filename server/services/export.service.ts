import { ZipArchive } from 'archiver';
import type { Knex } from 'knex';
import type { Writable } from 'node:stream';
import { toDate } from '../db/knex.js';
import { imageKeys } from '../storage/keys.js';
import { MissingObject, type StorageDriver } from '../storage/storage.js';

/**
 * Access and portability: everything Pixbin keeps about an account, as account.json, plus every original image,
 * streamed into a ZIP (nothing is assembled in memory; one image at a time is read from storage). Entry names are
 * made by the server from ids, never from names the user typed. Secrets (password hash, session and token hashes,
 * delete-key hashes) are left out: they identify nothing and are of no use outside Pixbin.
 */
export type ExportDeps = { db: Knex; storage: StorageDriver };

/** Each table that holds rows about a user, and the column that names the user. The schema test keeps it complete. */
export const EXPORTED_TABLES = {
  users: 'id',
  consent_log: 'user_id',
  sessions: 'user_id',
  email_tokens: 'user_id',
  security_log: 'user_id',
  images: 'owner_id',
  albums: 'owner_id',
  recovery_items: 'owner_id',
  privacy_requests: 'user_id',
  counter_notices: 'user_id',
  // Upheld reports about the account's images (its strikes), without who filed them: see reportsAbout.
  reports: 'owner_id',
} as const;

const SECRET_COLUMNS = new Set(['password_hash', 'id_hash', 'token_hash', 'delete_key_hash', 'token']);

function clean(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (SECRET_COLUMNS.has(key)) continue;
    out[key] = /(_at|_since)$/.test(key) && value !== null && value !== undefined ? toDate(value).toISOString() : value;
  }
  return out;
}

/**
 * A report about the account's content, as its holder may see it: the reporter's email and free text stay out;
 * of a copyright notice, the work and the claimant's name stay in, as a counter-notice needs them.
 */
function reportAbout(row: Record<string, unknown>): Record<string, unknown> {
  const notice = row.copyright ? (JSON.parse(String(row.copyright)) as Record<string, unknown>) : null;
  const { reporter_email: _email, details: _details, ...rest } = row;
  return { ...rest, copyright: notice ? { work: notice.work, originalUrl: notice.originalUrl, claimant: notice.claimant } : null };
}

export async function accountData(db: Knex, userId: string): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = {};
  for (const [table, column] of Object.entries(EXPORTED_TABLES)) {
    const rows = ((await db(table).where({ [column]: userId })) as Array<Record<string, unknown>>).map(clean);
    data[table] = table === 'users' ? (rows[0] ?? null) : rows;
  }
  const albumIds = ((data.albums as Array<{ id: string }>) ?? []).map((a) => a.id);
  data.album_images = albumIds.length ? await db('album_images').whereIn('album_id', albumIds).select('album_id', 'image_id', 'added_at').then((rows) => rows.map(clean)) : [];
  for (const row of data.recovery_items as Array<Record<string, unknown>>) {
    const record = JSON.parse(String(row.record)) as Record<string, unknown>;
    delete record.deleteKeyHash;
    row.record = record;
  }
  for (const row of data.security_log as Array<Record<string, unknown>>) row.detail = JSON.parse(String(row.detail));
  data.reports = (data.reports as Array<Record<string, unknown>>).map(reportAbout);
  return data;
}

/**
 * Writes the ZIP to `out`, resolving when it has been written whole. If the client goes away, the archive is
 * aborted and the storage stream being read is closed, so nothing waits or stays open. An original missing from
 * storage is skipped and listed in missing.json rather than failing the whole export.
 */
export async function writeExport(deps: ExportDeps, userId: string, exportedAt: Date, out: Writable): Promise<void> {
  const data = await accountData(deps.db, userId);
  const images = (data.images as Array<{ id: string; ext: string; missing_since: unknown }>).filter((i) => !i.missing_since);
  const zip = new ZipArchive({ zlib: { level: 6 } });
  let current: NodeJS.ReadableStream | null = null;
  let gone = false;
  const abandoned = new Promise<never>((_, reject) => {
    out.once('close', () => {
      if (out.writableFinished) return;
      gone = true;
      zip.abort();
      (current as { destroy?: () => void } | null)?.destroy?.();
      reject(new Error('the client closed the download'));
    });
  });
  abandoned.catch(() => undefined);
  const failed = new Promise<never>((_, reject) => zip.once('error', reject));
  failed.catch(() => undefined);
  zip.pipe(out);
  const manifest = {
    format: 'pixbin-export/1',
    exportedAt: exportedAt.toISOString(),
    note: 'Everything Pixbin stores about this account. Originals are in images/, named by image id; their metadata is under "images".',
    ...data,
  };
  // One entry at a time: the next storage stream is opened only once the previous entry is written.
  const add = (source: string | NodeJS.ReadableStream, name: string, store: boolean) =>
    Promise.race([
      abandoned,
      failed,
      new Promise<void>((resolve, reject) => {
        const onEntry = (entry: { name: string }) => {
          if (entry.name !== name) return;
          zip.off('entry', onEntry);
          resolve();
        };
        zip.on('entry', onEntry);
        if (typeof source !== 'string') {
          current = source;
          source.once('error', reject);
        }
        zip.append(source as string, { name, store, date: exportedAt });
      }),
    ]);
  await add(JSON.stringify(manifest, null, 2), 'account.json', false);
  const missing: string[] = [];
  // Already-compressed image formats are stored, not deflated again.
  for (const image of images) {
    if (gone) break;
    let body;
    try {
      body = await deps.storage.get(imageKeys(image).original);
    } catch (err) {
      if (!(err instanceof MissingObject)) throw err;
      missing.push(image.id);
      continue;
    }
    await add(body, `images/${image.id}.${image.ext}`, true);
  }
  if (missing.length) await add(JSON.stringify({ note: 'These originals were missing from storage when the export was made.', imageIds: missing }, null, 2), 'missing.json', false);
  await Promise.race([abandoned, failed, zip.finalize()]);
  await Promise.race([abandoned, new Promise<void>((resolve) => (out.writableFinished ? resolve() : out.once('finish', () => resolve())))]);
}
