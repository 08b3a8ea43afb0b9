import { ZipArchive } from 'archiver';
import type { Writable } from 'node:stream';
import type { RawRow } from '../db/account-export.repo.js';
import { toDate } from '../db/knex.js';
import type { Repos } from '../db/repos.js';
import { imageKeys } from '../storage/keys.js';
import { keyPreview } from './api-keys.service.js';
import { MissingObject, type StorageDriver } from '../storage/storage.js';

/**
 * Access and portability: everything Pixbin keeps about an account, as account.json, plus every original image,
 * streamed into a ZIP (nothing is assembled in memory; one image at a time is read from storage). Entry names are
 * made by the server from ids, never from names the user typed. Secrets (password hash, session and token hashes,
 * delete-key and API-key hashes) are left out: they identify nothing and are of no use outside Pixbin.
 */
export type ExportDeps = { repos: Pick<Repos, 'accountExport'>; storage: StorageDriver };

export { EXPORTED_TABLES } from '../db/account-export.repo.js';

const SECRET_COLUMNS = new Set(['password_hash', 'id_hash', 'token_hash', 'delete_key_hash', 'token', 'secret_hash', 'secret', 'previous_secret', 'previous_secret_until']);

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

export async function accountData(repos: Pick<Repos, 'accountExport'>, userId: string): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = {};
  for (const [table, rows] of Object.entries(await repos.accountExport.rowsNaming(userId)) as Array<[string, RawRow[]]>) {
    const cleaned = rows.map(clean);
    data[table] = table === 'users' ? (cleaned[0] ?? null) : cleaned;
  }
  for (const row of data.recovery_items as Array<Record<string, unknown>>) {
    const record = JSON.parse(String(row.record)) as Record<string, unknown>;
    delete record.deleteKeyHash;
    row.record = record;
  }
  for (const row of data.security_log as Array<Record<string, unknown>>) row.detail = JSON.parse(String(row.detail));
  data.reports = (data.reports as Array<Record<string, unknown>>).map(reportAbout);
  // Keys as the keys page lists them; the log oldest first, with numbers as numbers on every database.
  data.api_keys = (data.api_keys as Array<Record<string, unknown>>).map((k) => ({ ...k, preview: keyPreview(String(k.id)), scopes: String(k.scopes).split(' ').filter(Boolean) }));
  data.api_requests = (data.api_requests as Array<Record<string, unknown>>)
    .map((r): Record<string, unknown> & { id: number } => ({ ...r, id: Number(r.id), status: Number(r.status), duration_ms: Number(r.duration_ms), upload_bytes: Number(r.upload_bytes) }))
    .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)) || a.id - b.id);
  // Webhooks: each endpoint as its page shows it, never its secrets; the delivery log with each body as sent.
  data.webhook_endpoints = (data.webhook_endpoints as Array<Record<string, unknown>>).map((e) => ({
    id: e.id,
    url: e.url,
    description: e.description,
    events: String(e.events).split(',').filter(Boolean),
    enabled: Boolean(e.enabled),
    disabled_reason: e.disabled_reason,
    disabled_at: e.disabled_at,
    failing_since: e.failing_since,
    created_at: e.created_at,
    updated_at: e.updated_at,
  }));
  data.webhook_deliveries = (data.webhook_deliveries as Array<Record<string, unknown>>).map(({ locked_until: _lock, ...d }) => ({
    ...d,
    payload: parsedOr(d.payload),
    attempts: Number(d.attempts),
    last_response_code: d.last_response_code === null ? null : Number(d.last_response_code),
  }));
  data.webhook_attempts = (data.webhook_attempts as Array<Record<string, unknown>>).map((a) => ({
    ...a,
    id: Number(a.id),
    response_code: a.response_code === null ? null : Number(a.response_code),
    duration_ms: Number(a.duration_ms),
  }));
  return data;
}

/** A stored JSON text as the value it holds (a body that is not JSON stays text). */
function parsedOr(text: unknown): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    return text;
  }
}

/**
 * Writes the ZIP to `out`, resolving when it has been written whole. If the client goes away, the archive is
 * aborted and the storage stream being read is closed, so nothing waits or stays open. An original missing from
 * storage is skipped and listed in missing.json rather than failing the whole export.
 */
export async function writeExport(deps: ExportDeps, userId: string, exportedAt: Date, out: Writable): Promise<void> {
  const data = await accountData(deps.repos, userId);
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
