import type { Repos } from '../db/repos.js';
import { BadRequest, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';
import { moderationEventData, recordWebhookEvent } from './webhook-events.js';
import { openReportGroups, type QueueOptions, type QueuePage, type ReportGroup } from './reports.service.js';

const messages = {
  badAction: () => `The action must be one of ${ALBUM_ACTIONS.join(', ')}.`,
  reasonRequired: 'Say why: the album’s owner is shown this statement of reasons.',
  albumGone: 'That album is gone.',
};

const THUMBS = 6;

export type AlbumQueueGroup = Omit<ReportGroup, 'targetId'> & {
  albumId: string;
  album: { title: string; ownerId: string; moderationState: string | null; images: Array<{ id: string }> } | null;
};

/**
 * One page of open album reports, grouped by album, with the album's first images so the moderator can judge it;
 * the images can then be decided with the bulk form. Four queries whatever the page size.
 */
export async function albumQueue(repos: Pick<Repos, 'reports' | 'albums'>, options: QueueOptions): Promise<QueuePage<AlbumQueueGroup>> {
  const { groups, ...page } = await openReportGroups(repos, 'album', options);
  const ids = groups.map((g) => g.targetId);
  const albums = await repos.albums.findByIdsForStaff(ids);
  const thumbs = await repos.albums.firstImageIds([...albums.keys()], THUMBS);
  return {
    ...page,
    groups: groups.map(({ targetId, ...group }) => {
      const album = albums.get(targetId);
      return {
        albumId: targetId,
        album: album ? { title: album.title, ownerId: album.ownerId, moderationState: album.moderationState, images: (thumbs.get(targetId) ?? []).map((id) => ({ id })) } : null,
        ...group,
      };
    }),
  };
}

export const ALBUM_ACTIONS = ['dismiss', 'hide', 'clear'] as const;

/** dismiss: close the reports; hide: the album page answers 404 (its images keep their own state); clear: unhide. */
export async function moderateAlbum(repos: Repos, actor: StaffActor, albumId: string, action: string, reasonInput: string, now: Date): Promise<void> {
  if (!(ALBUM_ACTIONS as readonly string[]).includes(action)) throw new BadRequest(messages.badAction(), 'bad_action');
  const reason = reasonInput.trim().slice(0, 2000);
  if (action === 'hide' && !reason) throw new BadRequest(messages.reasonRequired, 'reason_required');
  const album = (await repos.albums.findByIdsForStaff([albumId])).get(albumId);
  if (!album && action !== 'dismiss') throw new NotFound(messages.albumGone);
  await repos.transaction(async (tx) => {
    if (action !== 'dismiss') {
      const hidden = action === 'hide';
      await tx.albums.setModeration(albumId, { state: hidden ? 'hidden' : null, reason: hidden ? reason : null, at: now });
    }
    const status = action === 'hide' ? 'actioned' : 'dismissed';
    await tx.reports.resolveOpen({ kind: 'album', id: albumId }, { status, resolution: action, ownerId: album?.ownerId ?? null, at: now });
    await recordStaffAction(tx, actor, { action: `album.${action}`, targetType: 'album', targetId: albumId, reason: reason || null }, now);
    await recordWebhookEvent({ clock: () => now }, tx, { type: 'moderation.decided', ownerId: null, data: moderationEventData({ kind: 'album', id: albumId }, action) });
  });
}

/** The owner's albums hidden by moderators, for the statement of reasons on their account. */
export async function ownerAlbumNotices(repos: Pick<Repos, 'albums'>, ownerId: string) {
  return (await repos.albums.listHiddenByOwner(ownerId)).map((a) => ({ albumId: a.id, title: a.title, reason: a.reason, at: a.at }));
}
