import type { Knex } from 'knex';
import { inBatches, toDate } from './knex.js';

export type Visibility = 'public' | 'unlisted' | 'private';

export type AlbumRecord = { id: string; ownerId: string; title: string; coverImageId: string | null; createdAt: Date };

/** An album on its owner's list: with how many images it holds and the cover to show. */
export type AlbumSummary = AlbumRecord & { imageCount: number; cover: { id: string; ext: string } | null };

/** What album pages need to show one image. */
export type AlbumImage = {
  id: string;
  ext: string;
  mime: string;
  label: string;
  visibility: Visibility;
  width: number;
  height: number;
  thumbWidth: number;
  thumbHeight: number;
  createdAt: Date;
};

type AlbumRow = { id: string; owner_id: string; title: string; cover_image_id: string | null; created_at: Date | number };
type AlbumImageRow = {
  id: string;
  ext: string;
  mime: string;
  title: string | null;
  original_name: string;
  visibility: Visibility;
  width: number;
  height: number;
  thumb_width: number;
  thumb_height: number;
  created_at: Date | number;
};

/** Everyone with the link sees these; private images are for their owner only. */
export const SHARED_VISIBILITIES: Visibility[] = ['public', 'unlisted'];

const fromRow = (r: AlbumRow): AlbumRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  title: r.title,
  coverImageId: r.cover_image_id,
  createdAt: toDate(r.created_at),
});

const imageFromRow = (r: AlbumImageRow): AlbumImage => ({
  id: r.id,
  ext: r.ext,
  mime: r.mime,
  label: r.title || r.original_name || `Image ${r.id}`,
  visibility: r.visibility,
  width: r.width,
  height: r.height,
  thumbWidth: r.thumb_width,
  thumbHeight: r.thumb_height,
  createdAt: toDate(r.created_at),
});

const IMAGE_COLUMNS = [
  'images.id',
  'images.ext',
  'images.mime',
  'images.title',
  'images.original_name',
  'images.visibility',
  'images.width',
  'images.height',
  'images.thumb_width',
  'images.thumb_height',
  'images.created_at',
];

export type Page = { limit: number; offset: number };

/** Where a keyset page of an album starts: the (created_at, id) of the last image of the page before (see images.repo). */
export type AlbumPosition = { createdAt: Date; id: string };

type Order = Array<{ column: string; order: 'desc' }>;

/** Album pages list images newest first by the copy of created_at the album keeps, so the album's own index orders them. */
const ALBUM_ORDER: Order = [
  { column: 'album_images.image_created_at', order: 'desc' },
  { column: 'album_images.image_id', order: 'desc' },
];
const IMAGES_ORDER: Order = [
  { column: 'images.created_at', order: 'desc' },
  { column: 'images.id', order: 'desc' },
];

/** A page of images (newest first) from a query, plus how many the whole query matches. */
async function pageOfImages(query: () => Knex.QueryBuilder, page: Page, order: Order): Promise<{ images: AlbumImage[]; total: number }> {
  const total = (await query().count({ n: '*' }).first()) as { n: number | string } | undefined;
  const rows = (await query().select(IMAGE_COLUMNS).orderBy(order).limit(page.limit).offset(page.offset)) as AlbumImageRow[];
  return { images: rows.map(imageFromRow), total: Number(total?.n ?? 0) };
}

export function createAlbumsRepo(db: Knex) {
  /** The album ids this owner has; every owner-scoped statement narrows to it, so a foreign album id matches nothing. */
  const ownedAlbum = (trx: Knex | Knex.Transaction, ownerId: string, albumId: string) =>
    trx('albums').select('id').where({ id: albumId, owner_id: ownerId });

  /** The images of an album that also belong to its owner (a join that checks images.owner_id too). */
  const albumImages = (trx: Knex | Knex.Transaction, ownerId: string, albumId: string) =>
    trx('album_images')
      .join('images', 'images.id', 'album_images.image_id')
      .join('albums', 'albums.id', 'album_images.album_id')
      .where('album_images.album_id', albumId)
      .where('albums.owner_id', ownerId)
      .where('images.owner_id', ownerId);

  /** An album's images that a visitor may see: only the album owner's, only the given visibilities. */
  const sharedImages = (albumId: string, visibilities: Visibility[]) =>
    db('album_images')
      .join('albums', 'albums.id', 'album_images.album_id')
      .join('images', function () {
        this.on('images.id', '=', 'album_images.image_id').andOn('images.owner_id', '=', 'albums.owner_id');
      })
      .where('album_images.album_id', albumId)
      .whereIn('images.visibility', visibilities)
      // Hidden by moderators: listed nowhere (a sensitive image stays, behind its own warning page).
      .andWhere((q) => q.whereNull('images.moderation_state').orWhereNot('images.moderation_state', 'hidden'));

  /** The created_at of those of imageIds that are the owner's: what album_images keeps a copy of, as its page order. */
  const createdAtOfOwned = async (trx: Knex | Knex.Transaction, ownerId: string, imageIds: readonly string[]): Promise<Map<string, unknown>> => {
    const found = new Map<string, unknown>();
    for (const batch of inBatches(imageIds)) {
      for (const row of (await trx('images').where('owner_id', ownerId).whereIn('id', batch).select('id', 'created_at')) as Array<{ id: string; created_at: unknown }>) found.set(row.id, row.created_at);
    }
    return found;
  };

  return {
    async insert(ownerId: string, album: { id: string; title: string; createdAt: Date }): Promise<void> {
      await db('albums').insert({ id: album.id, owner_id: ownerId, title: album.title, cover_image_id: null, created_at: album.createdAt });
    },

    async findForOwner(ownerId: string, albumId: string): Promise<AlbumRecord | null> {
      const row = (await db('albums').where({ id: albumId, owner_id: ownerId }).first()) as AlbumRow | undefined;
      return row ? fromRow(row) : null;
    },

    /** For the public share page, which anyone holding the link may open; what it shows is filtered by visibility. */
    /** An album as anyone may see it: not while its owner's account waits to be deleted. */
    async findShared(albumId: string): Promise<AlbumRecord | null> {
      const row = (await db('albums')
        .join('users', 'users.id', 'albums.owner_id')
        .where('albums.id', albumId)
        .whereNull('users.deletion_requested_at')
        .andWhere((q) => q.whereNull('albums.moderation_state').orWhereNot('albums.moderation_state', 'hidden'))
        .first('albums.*')) as AlbumRow | undefined;
      return row ? fromRow(row) : null;
    },

    async listForOwner(ownerId: string): Promise<AlbumSummary[]> {
      const counts = db('album_images')
        .join('images', 'images.id', 'album_images.image_id')
        .where('images.owner_id', ownerId)
        .groupBy('album_images.album_id')
        .select('album_images.album_id')
        .count({ n: '*' })
        .as('counts');
      const rows = (await db('albums')
        .leftJoin(counts, 'counts.album_id', 'albums.id')
        .leftJoin('images as cover', function () {
          this.on('cover.id', '=', 'albums.cover_image_id').andOn('cover.owner_id', '=', 'albums.owner_id');
        })
        .where('albums.owner_id', ownerId)
        .orderBy([{ column: 'albums.created_at', order: 'desc' }, { column: 'albums.id', order: 'desc' }])
        .select('albums.*', 'counts.n as image_count', 'cover.ext as cover_ext')) as Array<AlbumRow & { image_count: number | string | null; cover_ext: string | null }>;
      return rows.map((r) => ({
        ...fromRow(r),
        imageCount: Number(r.image_count ?? 0),
        cover: r.cover_image_id && r.cover_ext ? { id: r.cover_image_id, ext: r.cover_ext } : null,
      }));
    },

    async rename(ownerId: string, albumId: string, title: string): Promise<boolean> {
      return (await db('albums').where({ id: albumId, owner_id: ownerId }).update({ title })) > 0;
    },

    /** Deletes the album and (by cascade) its membership rows; the images themselves stay. */
    async delete(ownerId: string, albumId: string): Promise<boolean> {
      return (await db('albums').where({ id: albumId, owner_id: ownerId }).delete()) > 0;
    },

    /** A page of the album's images, newest first, with the total count. */
    async imagesForOwner(ownerId: string, albumId: string, page: Page): Promise<{ images: AlbumImage[]; total: number }> {
      return pageOfImages(() => albumImages(db, ownerId, albumId), page, ALBUM_ORDER);
    },

    /** What a visitor of the share page may see: only images of the album's owner, only the given visibilities. */
    async imagesShared(albumId: string, visibilities: Visibility[], page: Page): Promise<{ images: AlbumImage[]; total: number }> {
      return pageOfImages(() => sharedImages(albumId, visibilities), page, ALBUM_ORDER);
    },

    /**
     * One page of the share page, newest first: a keyset page after `after` (the (album_id, image_created_at,
     * image_id) index walked from there, so any depth costs the same), or, for old ?page=N links, at an offset.
     */
    async sharedPage(albumId: string, visibilities: Visibility[], page: { limit: number; after: AlbumPosition | null; offset?: number }): Promise<AlbumImage[]> {
      const q = sharedImages(albumId, visibilities).select(IMAGE_COLUMNS).orderBy(ALBUM_ORDER).limit(page.limit);
      if (page.after) q.andWhereRaw('(??, ??) < (?, ?)', ['album_images.image_created_at', 'album_images.image_id', page.after.createdAt, page.after.id]);
      else if (page.offset) q.offset(page.offset);
      return ((await q) as AlbumImageRow[]).map(imageFromRow);
    },

    /** How many images a visitor of the share page may see, counted no further than `cap`. */
    async countShared(albumId: string, visibilities: Visibility[], cap: number): Promise<number> {
      // Ordered like a page, so the planner walks the album's own index (not every image of the owner) and stops early.
      const capped = sharedImages(albumId, visibilities).select(db.raw('1')).orderBy(ALBUM_ORDER).limit(cap + 1).as('capped');
      const row = (await db.from(capped).count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** One image of the album if the visibilities allow it (for the share page's preview image). */
    async sharedImage(albumId: string, imageId: string, visibilities: Visibility[]): Promise<AlbumImage | null> {
      const row = (await sharedImages(albumId, visibilities).where('album_images.image_id', imageId).first(IMAGE_COLUMNS)) as AlbumImageRow | undefined;
      return row ? imageFromRow(row) : null;
    },

    /** The owner's images that are not in the album yet, newest first (the "add images" picker). */
    async candidatesForOwner(ownerId: string, albumId: string, page: Page): Promise<{ images: AlbumImage[]; total: number }> {
      const query = () =>
        db('images')
          .where('images.owner_id', ownerId)
          .whereNotExists(db('album_images').select(db.raw('1')).where('album_images.album_id', albumId).whereRaw('?? = ??', ['album_images.image_id', 'images.id']));
      return pageOfImages(query, page, IMAGES_ORDER);
    },

    /**
     * Adds images to the owner's album, all or nothing: if the album or any image is not the owner's, nothing is added
     * and false comes back. Images already in the album are left as they are.
     */
    async addImages(ownerId: string, albumId: string, imageIds: string[], addedAt: Date): Promise<boolean> {
      return db.transaction(async (trx) => {
        if (!(await ownedAlbum(trx, ownerId, albumId).first())) return false;
        const owned = await createdAtOfOwned(trx, ownerId, imageIds);
        if (owned.size !== imageIds.length) return false;
        const rows = imageIds.map((imageId) => ({ album_id: albumId, image_id: imageId, added_at: addedAt, image_created_at: owned.get(imageId) }));
        for (const batch of inBatches(rows)) await trx('album_images').insert(batch).onConflict(['album_id', 'image_id']).ignore();
        return true;
      });
    },

    /** Removes images from the owner's album (ids not in it are ignored); a removed cover is cleared. Null if no such album. */
    async removeImages(ownerId: string, albumId: string, imageIds: string[]): Promise<number | null> {
      return db.transaction(async (trx) => {
        if (!(await ownedAlbum(trx, ownerId, albumId).first())) return null;
        const removed = await trx('album_images').where('album_id', albumId).whereIn('album_id', ownedAlbum(trx, ownerId, albumId)).whereIn('image_id', imageIds).delete();
        await trx('albums').where({ id: albumId, owner_id: ownerId }).whereIn('cover_image_id', imageIds).update({ cover_image_id: null });
        return removed;
      });
    },

    /** Sets the cover, but only to an image of the owner that is in the owner's album. */
    async setCover(ownerId: string, albumId: string, imageId: string): Promise<boolean> {
      const inAlbum = albumImages(db, ownerId, albumId).where('album_images.image_id', imageId).select(db.raw('1'));
      return (await db('albums').where({ id: albumId, owner_id: ownerId }).whereExists(inAlbum).update({ cover_image_id: imageId })) > 0;
    },

    /** For each of these images, the ids of the owner's albums it is in (kept with a deleted account so a restore puts them back). */
    async albumIdsByImage(ownerId: string, imageIds: readonly string[]): Promise<Map<string, string[]>> {
      const albums = new Map<string, string[]>();
      for (const batch of inBatches(imageIds)) {
        const rows = (await db('album_images')
          .join('albums', 'albums.id', 'album_images.album_id')
          .where('albums.owner_id', ownerId)
          .whereIn('album_images.image_id', batch)
          .select('album_images.image_id', 'album_images.album_id')) as Array<{ image_id: string; album_id: string }>;
        for (const row of rows) albums.set(row.image_id, [...(albums.get(row.image_id) ?? []), row.album_id]);
      }
      return albums;
    },

    /** Puts a restored image back into those of albumIds that the owner still has. */
    async putBack(ownerId: string, imageId: string, albumIds: readonly string[], addedAt: Date): Promise<void> {
      if (albumIds.length === 0) return;
      const owned = (await db('albums').whereIn('id', [...albumIds]).andWhere({ owner_id: ownerId }).pluck('id')) as string[];
      const createdAt = (await createdAtOfOwned(db, ownerId, [imageId])).get(imageId);
      if (owned.length && createdAt !== undefined) {
        await db('album_images').insert(owned.map((albumId) => ({ album_id: albumId, image_id: imageId, added_at: addedAt, image_created_at: createdAt })));
      }
    },

    // Staff and moderation: not scoped to an owner (moderators act on anyone's albums; never reachable by users).

    /** These albums by id with their moderation state, in batched queries. */
    async findByIdsForStaff(albumIds: readonly string[]): Promise<Map<string, AlbumRecord & { moderationState: 'hidden' | null }>> {
      const found = new Map<string, AlbumRecord & { moderationState: 'hidden' | null }>();
      const unique = [...new Set(albumIds)];
      for (const batch of inBatches(unique)) {
        for (const row of (await db('albums').whereIn('id', batch)) as Array<AlbumRow & { moderation_state: string | null }>) {
          found.set(row.id, { ...fromRow(row), moderationState: row.moderation_state === 'hidden' ? 'hidden' : null });
        }
      }
      return found;
    },

    /** The first `perAlbum` image ids of each album, in the order they were added: one query (a window function). */
    async firstImageIds(albumIds: readonly string[], perAlbum: number): Promise<Map<string, string[]>> {
      const firsts = new Map<string, string[]>();
      if (albumIds.length === 0) return firsts;
      const ranked = db('album_images')
        .join('images', 'images.id', 'album_images.image_id')
        .whereIn('album_images.album_id', [...new Set(albumIds)])
        .select('album_images.album_id', 'images.id as image_id')
        .rowNumber('position', ['album_images.added_at', 'album_images.image_id'], 'album_images.album_id')
        .as('ranked');
      const rows = (await db.from(ranked).where('position', '<=', perAlbum).orderBy(['album_id', 'position'])) as Array<{ album_id: string; image_id: string }>;
      for (const row of rows) firsts.set(row.album_id, [...(firsts.get(row.album_id) ?? []), row.image_id]);
      return firsts;
    },

    /** A moderator's decision: hidden with the statement of reasons, or (null) not; false when the album is gone. */
    async setModeration(albumId: string, decision: { state: 'hidden' | null; reason: string | null; at: Date }): Promise<boolean> {
      return (await db('albums').where({ id: albumId }).update({ moderation_state: decision.state, moderation_reason: decision.state ? decision.reason : null, moderated_at: decision.at })) > 0;
    },

    /** The owner's albums hidden by moderators, with the statement of reasons. */
    async listHiddenByOwner(ownerId: string): Promise<Array<{ id: string; title: string; reason: string; at: Date }>> {
      const rows = (await db('albums').where({ owner_id: ownerId, moderation_state: 'hidden' }).select('id', 'title', 'moderation_reason', 'moderated_at')) as Array<Record<string, unknown>>;
      return rows.map((r) => ({ id: String(r.id), title: String(r.title), reason: String(r.moderation_reason ?? ''), at: toDate(r.moderated_at) }));
    },
  };
}

export type AlbumsRepo = ReturnType<typeof createAlbumsRepo>;
