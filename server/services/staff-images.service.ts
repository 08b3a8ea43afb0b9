import type { AuditLogRecord } from '../db/audit-log.repo.js';
import type { ImageRecord } from '../db/images.repo.js';
import type { DeletionReason, RecoveryItem } from '../db/recovery.repo.js';
import type { ReportRecord } from '../db/reports.repo.js';
import type { Repos } from '../db/repos.js';
import { BadRequest, NotFound } from '../errors.js';
import { isImageId } from '../lib/ids.js';
import { DAY_MS } from '../lib/time.js';
import { imageKeys } from '../storage/keys.js';
import { decodeCursor, encodeCursor } from './account-images.service.js';
import { recoveryKeyPairs } from './recovery.service.js';
import { BLURRED_REASONS } from './reports.service.js';

/**
 * What staff see of any image, reported or not: the image browser (search by id, owner, date and state, a keyset
 * page at a time) and one image's moderation history (its reports, its audit entries, and the decisions its state
 * allows). A removed image has no row in images any more: it is shown from its recovery item while that lasts.
 */
export type StaffImagesDeps = { repos: Repos; recoveryDays: number };

const messages = {
  badDate: 'Write dates as YYYY-MM-DD.',
  notFound: 'Staff have no record of that image.',
};

export const IMAGE_STATES = ['any', 'sensitive', 'hidden', 'removed'] as const;
export type ImageStateFilter = (typeof IMAGE_STATES)[number];
export const BROWSER_PAGE = 50;
/** Decisions shown on one image's history page: far more than any image gets. */
const HISTORY_MAX = 500;

export type ImageSearch = { id: string; owner: string; from: string; to: string; state: ImageStateFilter; after: string };

/** The browser's form, from the query string: every field is hostile input, cut to size. */
export function imageSearchOf(query: Record<string, unknown>): ImageSearch {
  const text = (name: string, max: number) => (typeof query[name] === 'string' ? (query[name] as string).trim().slice(0, max) : '');
  const state = IMAGE_STATES.find((s) => s === query.state) ?? 'any';
  return { id: text('id', 32), owner: text('owner', 32), from: text('from', 10), to: text('to', 10), state, after: text('after', 64) };
}

/** A YYYY-MM-DD day in UTC; `end` gives the start of the next day, so the range includes the whole `to` day. */
function dayOf(value: string, end: boolean): Date | undefined {
  if (!value) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(NaN);
  if (Number.isNaN(at.getTime())) throw new BadRequest(messages.badDate, 'bad_date');
  return end ? new Date(at.getTime() + DAY_MS) : at;
}


export type DisplayState = 'live' | 'sensitive' | 'hidden' | 'removed';
export type BrowsedImage = { id: string; ownerId: string | null; ownerName: string | null; state: DisplayState; uploadedAt: Date; removedAt: Date | null; removal: DeletionReason | null };

const stateOf = (image: Pick<ImageRecord, 'moderationState'>): DisplayState => image.moderationState ?? 'live';

/** One page of the browser. Removed images are searched by their deletion date (their upload date sits in the record). */
export async function browseImages(deps: StaffImagesDeps, search: ImageSearch): Promise<{ images: BrowsedImage[]; next: string | null }> {
  const from = dayOf(search.from, false);
  const to = dayOf(search.to, true);
  // The same opaque cursor as My images: the (time, id) of the last row shown; for removed images the time is the removal.
  const after = search.after ? decodeCursor(search.after) : null;
  let ownerId: string | undefined;
  if (search.owner) {
    const owner = await deps.repos.users.findByUsername(search.owner);
    if (!owner) return { images: [], next: null };
    ownerId = owner.id;
  }
  if (search.id && !isImageId(search.id)) return { images: [], next: null };
  const limit = BROWSER_PAGE + 1;
  let rows: BrowsedImage[];
  if (search.state === 'removed') {
    const items = await deps.repos.recovery.searchForStaff({ imageId: search.id || undefined, ownerId, from, to, after: after && { deletedAt: after.createdAt, imageId: after.id }, limit });
    rows = items.map((i) => ({ id: i.imageId, ownerId: i.ownerId, ownerName: null, state: 'removed', uploadedAt: i.record.createdAt, removedAt: i.deletedAt, removal: i.reason }));
  } else {
    const state = search.state === 'any' ? undefined : search.state;
    const images = await deps.repos.images.searchForStaff({ id: search.id || undefined, ownerId, state, from, to, after, limit });
    rows = images.map((i) => ({ id: i.id, ownerId: i.ownerId, ownerName: null, state: stateOf(i), uploadedAt: i.createdAt, removedAt: null, removal: null }));
  }
  const page = rows.slice(0, BROWSER_PAGE);
  const names = await deps.repos.users.usernamesOf(page.flatMap((r) => (r.ownerId ? [r.ownerId] : [])));
  for (const row of page) row.ownerName = row.ownerId ? (names.get(row.ownerId) ?? null) : null;
  const last = page[page.length - 1];
  const next = rows.length > BROWSER_PAGE && last ? encodeCursor({ createdAt: search.state === 'removed' ? last.removedAt! : last.uploadedAt, id: last.id }) : null;
  return { images: page, next };
}

/** Decisions the history page offers, by state; each is a moderateImage action. */
const ACTIONS_BY_STATE: Record<DisplayState | 'gone', readonly string[]> = {
  live: ['sensitive', 'hide', 'remove'],
  sensitive: ['clear', 'hide', 'remove'],
  hidden: ['clear', 'sensitive', 'remove'],
  removed: ['restore'],
  gone: [],
};

export type ImageHistory = {
  imageId: string;
  state: DisplayState | 'gone';
  /** The live row, or the record kept in the recovery store. */
  image: Pick<ImageRecord, 'originalName' | 'mime' | 'width' | 'height' | 'size' | 'visibility' | 'createdAt' | 'expiresAt' | 'moderationReason'> | null;
  ownerId: string | null;
  ownerName: string | null;
  recovery: { deletedAt: Date; reason: DeletionReason; statement: string | null; restorableUntil: Date | null } | null;
  reports: ReportRecord[];
  /** Newest first. */
  audit: AuditLogRecord[];
  actions: readonly string[];
  /** Show the thumbnail only on a click: a report says CSAM or illegal content. */
  blurred: boolean;
  hasThumbnail: boolean;
};

/** Everything staff know about one image, in whatever state: live, removed (restorable), or gone. */
export async function imageHistory(deps: StaffImagesDeps, imageId: string): Promise<ImageHistory> {
  if (!isImageId(imageId)) throw new NotFound(messages.notFound);
  const [live, recovered, reports, audit] = await Promise.all([
    deps.repos.images.findById(imageId),
    deps.repos.recovery.find(imageId),
    deps.repos.reports.listForImage(imageId),
    deps.repos.auditLog.list({ targetType: 'image', targetId: imageId }, { limit: HISTORY_MAX }),
  ]);
  // Staff see and restore only what moderators removed; an image its owner deleted reads as gone to them.
  const item = recovered?.reason === 'moderation' ? recovered : null;
  if (!live && !item && !reports.length && !audit.length) throw new NotFound(messages.notFound);
  const full = live ?? item?.record ?? null;
  // A copy of the fields staff may see: never the delete key's hash.
  const record = full
    ? { originalName: full.originalName, mime: full.mime, width: full.width, height: full.height, size: full.size, visibility: full.visibility, createdAt: full.createdAt, expiresAt: full.expiresAt, moderationReason: full.moderationReason }
    : null;
  const ownerId = live ? live.ownerId : (item?.ownerId ?? null);
  const ownerName = ownerId ? ((await deps.repos.users.usernamesOf([ownerId])).get(ownerId) ?? null) : null;
  const state: ImageHistory['state'] = live ? stateOf(live) : item ? 'removed' : 'gone';
  return {
    imageId,
    state,
    image: record,
    ownerId,
    ownerName,
    recovery: item ? { deletedAt: item.deletedAt, reason: item.reason, statement: await deps.repos.recovery.statementOf(imageId), restorableUntil: restorableUntil(item, deps.recoveryDays) } : null,
    reports,
    audit,
    actions: ACTIONS_BY_STATE[state],
    blurred: reports.some((r) => BLURRED_REASONS.has(r.reason)),
    hasThumbnail: Boolean(live || item),
  };
}

/** The reaper's date; an account's images wait for the account's purge instead (null: "while the account waits"). */
const restorableUntil = (item: RecoveryItem, days: number): Date | null => (item.reason === 'account' && item.ownerId ? null : new Date(item.deletedAt.getTime() + days * DAY_MS));

/** Where a removed image's thumbnail waits: in the recovery store once moved, at its live key until then. */
export async function removedThumbnail(deps: StaffImagesDeps, imageId: string): Promise<{ key: string; record: ImageRecord } | null> {
  const item = isImageId(imageId) ? await deps.repos.recovery.find(imageId) : null;
  // Only what moderators removed: an owner's own deletion is not staff's to look at.
  if (!item || item.reason !== 'moderation') return null;
  const live = imageKeys(item.record).thumbnail;
  const waiting = recoveryKeyPairs(item).find((pair) => pair.live === live)!.recovery;
  return { key: item.bytesMoved ? waiting : live, record: item.record };
}
