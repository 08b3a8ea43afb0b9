import { VISIBILITIES, type ImageRecord, type PagePosition, type Visibility } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { BadRequest, NotFound } from '../errors.js';
import { isImageId } from '../lib/ids.js';
import { cleanTitle, MAX_TITLE_CHARS, titleLength } from '../lib/title.js';
import type { ImagesDeps } from './images.service.js';
import { releaseStorage, storedBytes } from './quota.service.js';
import { moveToRecovery, recordDeletions } from './recovery.service.js';
import { deletedImageEventData, imageEventData, recordWebhookEvent, recordWebhookEvents } from './webhook-events.js';

export type AccountImagesDeps = ImagesDeps & { defaultQuotaBytes: number; unverifiedQuotaBytes: number; publicUrl: string };

/** What a change to an owner's image needs to tell the owner's webhooks (image.updated) in its own transaction. */
export type ImageChangeDeps = { repos: Repos; clock: () => Date; publicUrl: string };

export const PAGE_SIZE = 60;
export const MAX_BULK_IDS = 500;
const MAX_SEARCH_CHARS = 100;

export const messages = {
  badCursor: 'That page link is not valid (it may have been cut short). Start again from the first page.',
  badSort: 'Sort by "newest" or "oldest".',
  titleTooLong: `A title can be at most ${MAX_TITLE_CHARS} characters.`,
  badVisibility: 'Visibility must be public, unlisted or private.',
  noneSelected: 'Tick at least one image first.',
  tooMany: `At most ${MAX_BULK_IDS} images can be changed at once. Tick fewer and try again.`,
  badIds: 'The selection contained something that is not an image id. Reload the page and try again.',
};

/** limit: page size (the API lets its caller choose up to 100); PAGE_SIZE when absent. */
export type ListOptions = { sort: 'newest' | 'oldest'; search: string; after: PagePosition | null; limit?: number };
export type ImagePage = { images: ImageRecord[]; next: string | null };

// The cursor is opaque to clients: base64url of "<created_at epoch ms>.<id>" of the last row shown.
const CURSOR = /^(\d{1,15})\.([0-9A-Za-z]{12})$/;

export function encodeCursor(position: PagePosition): string {
  return Buffer.from(`${position.createdAt.getTime()}.${position.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): PagePosition {
  const match = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match) throw new BadRequest(messages.badCursor, 'bad_cursor');
  return { createdAt: new Date(Number(match[1])), id: match[2]! };
}

const one = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Reads ?sort, ?q and ?after from a query string; anything malformed is a 400 that says what to do. */
export function listOptionsFrom(query: Record<string, unknown>): ListOptions {
  const sort = one(query.sort) ?? 'newest';
  if (sort !== 'newest' && sort !== 'oldest') throw new BadRequest(messages.badSort, 'bad_sort');
  const search = Array.from(cleanTitle(one(query.q) ?? '')).slice(0, MAX_SEARCH_CHARS).join('');
  const after = one(query.after);
  return { sort, search, after: after ? decodeCursor(after) : null };
}

/** One page of an owner's images (or only the public ones, for the profile page), with the next page's cursor. */
export async function listOwnerImages(
  deps: { repos: Pick<Repos, 'images'> },
  ownerId: string,
  options: ListOptions,
  only?: Visibility,
): Promise<ImagePage> {
  const size = options.limit ?? PAGE_SIZE;
  const rows = await deps.repos.images.listByOwner(ownerId, {
    sort: options.sort,
    after: options.after,
    search: options.search || undefined,
    visibility: only,
    limit: size + 1,
  });
  const images = rows.slice(0, size);
  const last = images[images.length - 1];
  return { images, next: rows.length > size && last ? encodeCursor(last) : null };
}

function imageIdOrNotFound(id: string): string {
  if (!isImageId(id)) throw new NotFound();
  return id;
}

/** A title as it is stored: cleaned, at most MAX_TITLE_CHARS characters, null when empty. */
export function cleanImageTitle(rawTitle: string): string | null {
  const title = cleanTitle(rawTitle);
  if (titleLength(title) > MAX_TITLE_CHARS) throw new BadRequest(messages.titleTooLong, 'title_too_long', 'title');
  return title === '' ? null : title;
}

/** The owner's image, or the same 404 as for one that does not exist (or is someone else's). */
export async function ownImage(deps: { repos: Pick<Repos, 'images'> }, ownerId: string, id: string): Promise<ImageRecord> {
  const image = await deps.repos.images.findOwned(ownerId, imageIdOrNotFound(id));
  if (!image) throw new NotFound();
  return image;
}

/**
 * Changes the title and/or visibility of the owner's image; 404 when it is not theirs. The owner's webhooks hear
 * image.updated from the same transaction.
 */
export async function editImage(deps: ImageChangeDeps, ownerId: string, id: string, changes: { title?: string | null; visibility?: Visibility }): Promise<void> {
  const imageId = imageIdOrNotFound(id);
  await deps.repos.transaction(async (tx) => {
    if (!(await tx.images.updateOwned(ownerId, imageId, changes))) throw new NotFound();
    await recordWebhookEvent(deps, tx, {
      type: 'image.updated',
      ownerId,
      data: async () => {
        const image = await tx.images.findById(imageId);
        return image ? imageEventData(deps.publicUrl, image) : null;
      },
    });
  });
}

export async function renameImage(deps: ImageChangeDeps, ownerId: string, id: string, rawTitle: string): Promise<string | null> {
  const stored = cleanImageTitle(rawTitle);
  await editImage(deps, ownerId, id, { title: stored });
  return stored;
}

export function parseVisibility(raw: unknown): Visibility {
  if (typeof raw !== 'string' || !(VISIBILITIES as readonly string[]).includes(raw)) throw new BadRequest(messages.badVisibility, 'bad_visibility');
  return raw as Visibility;
}

export async function changeVisibility(deps: ImageChangeDeps, ownerId: string, id: string, raw: unknown): Promise<Visibility> {
  const visibility = parseVisibility(raw);
  await editImage(deps, ownerId, id, { visibility });
  return visibility;
}

/**
 * Sets one visibility on those of ids that belong to the owner (others are ignored, as in a bulk deletion), in one
 * transaction with their image.updated events. Returns how many were the owner's.
 */
export async function changeVisibilityOfMany(deps: ImageChangeDeps, ownerId: string, ids: readonly string[], raw: unknown): Promise<{ visibility: Visibility; changed: number }> {
  const visibility = parseVisibility(raw);
  const changed = await deps.repos.transaction(async (tx) => {
    const owned: string[] = [];
    for (const id of ids) if (await tx.images.updateOwned(ownerId, id, { visibility })) owned.push(id);
    const subscribed = (await tx.webhooks.subscribedEndpoints(ownerId, 'image.updated')).length > 0;
    if (subscribed && owned.length > 0) {
      const data: Array<Record<string, unknown>> = [];
      for (const id of owned) {
        const row = await tx.images.findById(id);
        if (row) data.push(imageEventData(deps.publicUrl, row));
      }
      await recordWebhookEvents(deps, tx, 'image.updated', ownerId, data);
    }
    return owned.length;
  });
  return { visibility, changed };
}

/** The ids of a bulk selection: one string, a list, or a comma/space separated string; deduplicated, at most 500. */
export function parseIds(raw: unknown): string[] {
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(/[\s,]+/) : [])).filter(Boolean);
  if (Array.isArray(raw) && raw.some((v) => typeof v !== 'string')) throw new BadRequest(messages.badIds, 'bad_ids');
  const ids = [...new Set(list)];
  if (ids.length === 0) throw new BadRequest(messages.noneSelected, 'none_selected');
  if (ids.length > MAX_BULK_IDS) throw new BadRequest(messages.tooMany, 'too_many');
  if (!ids.every(isImageId)) throw new BadRequest(messages.badIds, 'bad_ids');
  return ids;
}

/**
 * Deletes those of ids that belong to the owner (others are ignored, as if they did not exist), gives their
 * bytes back to the quota in the same transaction, then moves every stored variant to the recovery store.
 * Returns how many went.
 */
export async function deleteOwnedImages(
  deps: AccountImagesDeps,
  ownerId: string,
  ids: readonly string[],
  client: { ip: string | undefined; userAgent: string | undefined },
): Promise<number> {
  const items = await deps.repos.transaction(async (tx) => {
    const rows = await tx.images.deleteOwned(ownerId, ids);
    await releaseStorage(tx, ownerId, rows.reduce((sum, image) => sum + storedBytes(image), 0));
    if (rows.length > 0) {
      // One row names the owner (the purge finds it by user_id); the image column is set when it is about one image.
      await tx.securityLog.insert(
        { event: 'image.delete', userId: ownerId, ...client, imageId: rows.length === 1 ? rows[0]!.id : null, detail: { imageIds: rows.map((r) => r.id), by: 'owner' } },
        deps.clock(),
      );
    }
    await recordWebhookEvents(deps, tx, 'image.deleted', ownerId, rows.map((row) => deletedImageEventData(row.id)));
    return recordDeletions(tx, rows, 'owner', deps.clock());
  });
  await moveToRecovery(deps, items);
  return items.length;
}
