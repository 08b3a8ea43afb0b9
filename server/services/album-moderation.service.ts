import type { Knex } from 'knex';
import { toDate } from '../db/knex.js';
import { BadRequest, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { openReportGroups, type QueueOptions, type ReportGroup } from './reports.service.js';

const THUMBS = 6;

export type AlbumQueueGroup = Omit<ReportGroup, 'targetId'> & {
  albumId: string;
  album: { title: string; ownerId: string; moderationState: string | null; images: Array<{ id: string }> } | null;
};

/**
 * Open album reports, grouped by album, with the album's first images so the moderator can judge it; the
 * images can then be decided with the bulk form.
 */
export async function albumQueue(db: Knex, options: QueueOptions): Promise<AlbumQueueGroup[]> {
  const groups = await openReportGroups(db, 'album_id', options);
  return Promise.all(
    groups.map(async ({ targetId, ...group }) => {
      const album = (await db('albums').where({ id: targetId }).first()) as Record<string, unknown> | undefined;
      const images = album
        ? ((await db('album_images').join('images', 'images.id', 'album_images.image_id').where('album_images.album_id', targetId).orderBy('album_images.added_at').limit(THUMBS).select('images.id')) as Array<{ id: string }>)
        : [];
      return {
        albumId: targetId,
        album: album ? { title: String(album.title), ownerId: String(album.owner_id), moderationState: (album.moderation_state as string | null) ?? null, images } : null,
        ...group,
      };
    }),
  );
}

export const ALBUM_ACTIONS = ['dismiss', 'hide', 'clear'] as const;

/** dismiss: close the reports; hide: the album page answers 404 (its images keep their own state); clear: unhide. */
export async function moderateAlbum(db: Knex, actor: StaffActor, albumId: string, action: string, reasonInput: string, now: Date): Promise<void> {
  if (!(ALBUM_ACTIONS as readonly string[]).includes(action)) throw new BadRequest(`The action must be one of ${ALBUM_ACTIONS.join(', ')}.`, 'bad_action');
  const reason = reasonInput.trim().slice(0, 2000);
  if (action === 'hide' && !reason) throw new BadRequest('Say why: the album’s owner is shown this statement of reasons.', 'reason_required');
  const album = (await db('albums').where({ id: albumId }).first('owner_id')) as { owner_id: string } | undefined;
  if (!album && action !== 'dismiss') throw new NotFound('That album is gone.');
  await db.transaction(async (trx) => {
    if (action !== 'dismiss') {
      const hidden = action === 'hide';
      await trx('albums').where({ id: albumId }).update({ moderation_state: hidden ? 'hidden' : null, moderation_reason: hidden ? reason : null, moderated_at: now });
    }
    const status = action === 'hide' ? 'actioned' : 'dismissed';
    await trx('reports').where({ album_id: albumId, status: 'open' }).update({ status, resolved_at: now, resolution: action, owner_id: album?.owner_id ?? null });
  });
  await recordStaffAction(db, actor, { action: `album.${action}`, targetType: 'album', targetId: albumId, reason: reason || null }, now);
}

/** The owner's albums hidden by moderators, for the statement of reasons on their account. */
export async function ownerAlbumNotices(db: Knex, ownerId: string) {
  const rows = (await db('albums').where({ owner_id: ownerId, moderation_state: 'hidden' }).select('id', 'title', 'moderation_reason', 'moderated_at')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ albumId: String(r.id), title: String(r.title), reason: String(r.moderation_reason ?? ''), at: toDate(r.moderated_at) }));
}
