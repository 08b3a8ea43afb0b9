import { SHARED_VISIBILITIES, type AlbumImage, type AlbumPosition, type AlbumRecord, type AlbumsRepo, type AlbumSummary, type Visibility } from '../db/albums.repo.js';
import { BadRequest, NotFound } from '../errors.js';
import { isImageId, randomBase62 } from '../lib/ids.js';
import { cleanTitle, MAX_TITLE_CHARS, titleLength } from '../lib/title.js';
import type { Repos } from '../db/repos.js';
import { encodeCursor } from './account-images.service.js';
import { albumEventData, recordWebhookEvent } from './webhook-events.js';

export const messages = {
  titleRequired: 'Give the album a title.',
  titleTooLong: 'An album title can be at most 200 characters.',
  noImages: 'Choose at least one image.',
  tooManyImages: 'At most 500 images can be added or removed at once.',
};

export const ALBUM_ID_LENGTH = 16;
export const MAX_TITLE_LENGTH = MAX_TITLE_CHARS;
export const MAX_IDS_PER_REQUEST = 500;
/** Album pages show this many images at a time; the picker fits one form under the body parser's 50-field limit. */
export const ALBUM_PAGE_SIZE = 60;
export const PICKER_PAGE_SIZE = 48;
/** The share page counts an album's images up to this many, then says "more than" (a count never walks a huge album). */
export const SHARE_COUNT_CAP = 1000;

const ALBUM_ID_PATTERN = new RegExp(`^[0-9A-Za-z]{${ALBUM_ID_LENGTH}}$`);

/** repos and publicUrl: each change commits with the album.* event for the owner's webhooks (the outbox). */
export type AlbumsDeps = { albums: AlbumsRepo; repos: Repos; clock: () => Date; publicUrl: string };

/** Runs an album change in a transaction that also records its event; a change that fails (throws) records nothing. */
async function changeAlbum<T>(deps: AlbumsDeps, ownerId: string, type: 'album.created' | 'album.updated' | 'album.deleted', album: Pick<AlbumRecord, 'id' | 'createdAt'> | { id: string }, change: (albums: AlbumsRepo) => Promise<T>): Promise<T> {
  return deps.repos.transaction(async (tx) => {
    const result = await change(tx.albums);
    const data = 'createdAt' in album && type !== 'album.deleted' ? albumEventData(deps.publicUrl, album) : { id: album.id };
    await recordWebhookEvent(deps, tx, { type, ownerId, data });
    return result;
  });
}

export const isAlbumId = (value: string): boolean => ALBUM_ID_PATTERN.test(value);

/** A title as it is stored: NFC, no controls or bidi tricks, whitespace collapsed and trimmed, 1–200 characters. */
export function cleanAlbumTitle(raw: string): string {
  const title = cleanTitle(raw);
  if (!title) throw new BadRequest(messages.titleRequired, 'title_required');
  if (titleLength(title) > MAX_TITLE_LENGTH) throw new BadRequest(messages.titleTooLong, 'title_too_long');
  return title;
}

/** Image ids from a form or JSON body: one or many, deduplicated, at most 500. A malformed id can match nothing. */
export function imageIdList(raw: unknown): string[] {
  const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string' && v !== '');
  const ids = [...new Set(values)];
  if (ids.length === 0) throw new BadRequest(messages.noImages, 'no_images');
  if (ids.length > MAX_IDS_PER_REQUEST) throw new BadRequest(messages.tooManyImages, 'too_many');
  if (!ids.every(isImageId)) throw new NotFound();
  return ids;
}

const pageOf = (page: number, size: number) => ({ limit: size, offset: (Math.max(1, page) - 1) * size });

export async function createAlbum(deps: AlbumsDeps, ownerId: string, rawTitle: string): Promise<AlbumRecord> {
  const album = { id: randomBase62(ALBUM_ID_LENGTH), title: cleanAlbumTitle(rawTitle), createdAt: deps.clock() };
  await changeAlbum(deps, ownerId, 'album.created', album, (albums) => albums.insert(ownerId, album));
  return { ...album, ownerId, coverImageId: null };
}

export function listAlbums(deps: AlbumsDeps, ownerId: string): Promise<AlbumSummary[]> {
  return deps.albums.listForOwner(ownerId);
}

/** The owner's album, or the same 404 as for an album that does not exist. */
export async function ownAlbum(deps: AlbumsDeps, ownerId: string, albumId: string): Promise<AlbumRecord> {
  const album = isAlbumId(albumId) ? await deps.albums.findForOwner(ownerId, albumId) : null;
  if (!album) throw new NotFound();
  return album;
}

/** Everything the manage page shows: the album, a page of its images and a page of the owner's other images. */
export async function manageAlbum(deps: AlbumsDeps, ownerId: string, albumId: string, pages: { page: number; pick: number }) {
  const album = await ownAlbum(deps, ownerId, albumId);
  const [inAlbum, candidates] = await Promise.all([
    deps.albums.imagesForOwner(ownerId, album.id, pageOf(pages.page, ALBUM_PAGE_SIZE)),
    deps.albums.candidatesForOwner(ownerId, album.id, pageOf(pages.pick, PICKER_PAGE_SIZE)),
  ]);
  return { album, inAlbum, candidates };
}

/** The owner's album with one page of its images (newest first) and how many it holds: what the API answers. */
export async function albumWithImages(deps: AlbumsDeps, ownerId: string, albumId: string, page: { limit: number; offset: number }) {
  const album = await ownAlbum(deps, ownerId, albumId);
  const { images, total } = await deps.albums.imagesForOwner(ownerId, album.id, page);
  return { album, images, total };
}

export async function renameAlbum(deps: AlbumsDeps, ownerId: string, albumId: string, rawTitle: string): Promise<void> {
  const album = await ownAlbum(deps, ownerId, albumId);
  const title = cleanAlbumTitle(rawTitle);
  await changeAlbum(deps, ownerId, 'album.updated', album, async (albums) => {
    if (!(await albums.rename(ownerId, album.id, title))) throw new NotFound();
  });
}

export async function deleteAlbum(deps: AlbumsDeps, ownerId: string, albumId: string): Promise<void> {
  if (!isAlbumId(albumId)) throw new NotFound();
  await changeAlbum(deps, ownerId, 'album.deleted', { id: albumId }, async (albums) => {
    if (!(await albums.delete(ownerId, albumId))) throw new NotFound();
  });
}

/** Adds the owner's images; if any id is not one of the owner's images, nothing is added and the answer is 404. */
export async function addImages(deps: AlbumsDeps, ownerId: string, albumId: string, rawIds: unknown): Promise<number> {
  const album = await ownAlbum(deps, ownerId, albumId);
  const ids = imageIdList(rawIds);
  await changeAlbum(deps, ownerId, 'album.updated', album, async (albums) => {
    if (!(await albums.addImages(ownerId, album.id, ids, deps.clock()))) throw new NotFound();
  });
  return ids.length;
}

export async function removeImages(deps: AlbumsDeps, ownerId: string, albumId: string, rawIds: unknown): Promise<number> {
  const album = await ownAlbum(deps, ownerId, albumId);
  const ids = imageIdList(rawIds);
  return changeAlbum(deps, ownerId, 'album.updated', album, async (albums) => {
    const removed = await albums.removeImages(ownerId, album.id, ids);
    if (removed === null) throw new NotFound();
    return removed;
  });
}

export async function setCover(deps: AlbumsDeps, ownerId: string, albumId: string, imageId: unknown): Promise<void> {
  const album = await ownAlbum(deps, ownerId, albumId);
  const [id] = imageIdList(imageId);
  await changeAlbum(deps, ownerId, 'album.updated', album, async (albums) => {
    if (!(await albums.setCover(ownerId, album.id, id!))) throw new NotFound();
  });
}

/** Where a share page starts: after a cursor (encodeCursor of the last image of the page before), or an old ?page=N link. */
export type SharePosition = { after: AlbumPosition | null; page: number };

/**
 * The public share page: anyone with the link sees the album's public and unlisted images; its owner also sees the
 * private ones. The preview image (OpenGraph) is always one a guest may see, so a link preview never leaks a private one.
 * Pages are keyset pages newest first (next: the cursor of the page after, or null); an old ?page=N link still
 * answers with that page (by offset, the one deep walk left, for links made before cursors). The count stops at
 * SHARE_COUNT_CAP (countCapped then says there are more).
 */
export async function sharedAlbum(deps: AlbumsDeps, albumId: string, viewerId: string | null, position: SharePosition) {
  const album = isAlbumId(albumId) ? await deps.albums.findShared(albumId) : null;
  if (!album) throw new NotFound();
  const isOwner = viewerId === album.ownerId;
  const visibilities: Visibility[] = isOwner ? [...SHARED_VISIBILITIES, 'private'] : SHARED_VISIBILITIES;
  const offset = position.after ? 0 : (Math.max(1, position.page) - 1) * ALBUM_PAGE_SIZE;
  const [rows, counted] = await Promise.all([
    deps.albums.sharedPage(album.id, visibilities, { limit: ALBUM_PAGE_SIZE + 1, after: position.after, offset }),
    deps.albums.countShared(album.id, visibilities, SHARE_COUNT_CAP),
  ]);
  const images = rows.slice(0, ALBUM_PAGE_SIZE);
  const last = images[images.length - 1];
  const next = rows.length > ALBUM_PAGE_SIZE && last ? encodeCursor(last) : null;
  const firstPage = !position.after && offset === 0;
  let preview: AlbumImage | null = album.coverImageId ? await deps.albums.sharedImage(album.id, album.coverImageId, SHARED_VISIBILITIES) : null;
  // The guest's first page already holds the newest image a guest may see.
  if (!preview && firstPage && !isOwner) preview = images[0] ?? null;
  else preview ??= (await deps.albums.sharedPage(album.id, SHARED_VISIBILITIES, { limit: 1, after: null })).at(0) ?? null;
  return { album, images, next, firstPage, total: Math.min(counted, SHARE_COUNT_CAP), countCapped: counted > SHARE_COUNT_CAP, isOwner, preview };
}
