import { toDate, toDateOrNull } from './knex.js';

/** The image as the app sees it, and its row in the images table (the mapping both ways). */
export type Visibility = 'public' | 'unlisted' | 'private';
export const VISIBILITIES: readonly Visibility[] = ['public', 'unlisted', 'private'];

export type ImageRecord = {
  id: string;
  deleteKeyHash: string;
  originalName: string;
  mime: string;
  ext: string;
  size: number;
  width: number;
  height: number;
  frames: number;
  sha256: string;
  thumbSize: number;
  thumbWidth: number;
  thumbHeight: number;
  thumbSha256: string;
  /** The display variant (a WebP at most DISPLAY_MAX_PX wide or high); all null until the backfill makes it for an older image. */
  displaySize: number | null;
  displayWidth: number | null;
  displayHeight: number | null;
  displaySha256: string | null;
  createdAt: Date;
  /** null: a guest upload nobody has claimed. */
  ownerId: string | null;
  visibility: Visibility;
  /** Set by the owner; null shows the original file name. */
  title: string | null;
  /** When a guest upload deletes itself; null keeps it until it is deleted. */
  expiresAt: Date | null;
  /** Set by the orphan sweep while the stored bytes are missing; such an image is not served. */
  missingSince: Date | null;
  /** A moderator's decision: sensitive (behind a warning) or hidden (not served); null when none. */
  moderationState: 'sensitive' | 'hidden' | null;
  moderationReason: string | null;
  /** Content hashes for the hash blocklist; null for images uploaded before they were computed. */
  pixelSha256: string | null;
  phash: string | null;
  /**
   * Where an upload by URL came from, kept only when its uploader asked (never with a user:password part); null
   * otherwise. Optional: records kept in the recovery store from before the column existed have none.
   */
  sourceUrl?: string | null;
};

export type ImageRow = {
  id: string;
  delete_key_hash: string;
  original_name: string;
  mime: string;
  ext: string;
  size: number | string;
  width: number;
  height: number;
  frames: number;
  sha256: string;
  thumb_size: number | string;
  thumb_width: number;
  thumb_height: number;
  thumb_sha256: string;
  display_size?: number | string | null;
  display_width?: number | null;
  display_height?: number | null;
  display_sha256?: string | null;
  created_at: Date | number;
  owner_id: string | null;
  visibility: string;
  title: string | null;
  expires_at?: Date | number | null;
  missing_since?: Date | number | null;
  moderation_state?: string | null;
  moderation_reason?: string | null;
  pixel_sha256?: string | null;
  phash?: string | null;
  source_url?: string | null;
};

const asVisibility = (value: string): Visibility => ((VISIBILITIES as readonly string[]).includes(value) ? (value as Visibility) : 'private');

export const fromRow = (r: ImageRow): ImageRecord => ({
  id: r.id,
  deleteKeyHash: r.delete_key_hash,
  originalName: r.original_name,
  mime: r.mime,
  ext: r.ext,
  size: Number(r.size),
  width: r.width,
  height: r.height,
  frames: r.frames,
  sha256: r.sha256,
  thumbSize: Number(r.thumb_size),
  thumbWidth: r.thumb_width,
  thumbHeight: r.thumb_height,
  thumbSha256: r.thumb_sha256,
  displaySize: r.display_size == null ? null : Number(r.display_size),
  displayWidth: r.display_width ?? null,
  displayHeight: r.display_height ?? null,
  displaySha256: r.display_sha256 ?? null,
  createdAt: toDate(r.created_at),
  ownerId: r.owner_id ?? null,
  visibility: asVisibility(r.visibility),
  title: r.title ?? null,
  expiresAt: toDateOrNull(r.expires_at),
  missingSince: toDateOrNull(r.missing_since),
  moderationState: r.moderation_state === 'sensitive' || r.moderation_state === 'hidden' ? r.moderation_state : null,
  moderationReason: r.moderation_reason ?? null,
  pixelSha256: r.pixel_sha256 ?? null,
  phash: r.phash ?? null,
  sourceUrl: r.source_url ?? null,
});

/**
 * A new row may leave out the owner fields (a guest upload, unlisted, untitled), the content hashes and the display
 * variant (a restored record from before display variants has none).
 */
type OptionalOnInsert =
  | 'ownerId'
  | 'visibility'
  | 'title'
  | 'expiresAt'
  | 'missingSince'
  | 'moderationState'
  | 'moderationReason'
  | 'pixelSha256'
  | 'phash'
  | 'sourceUrl'
  | 'displaySize'
  | 'displayWidth'
  | 'displayHeight'
  | 'displaySha256';
export type NewImage = Omit<ImageRecord, OptionalOnInsert> & Partial<Pick<ImageRecord, OptionalOnInsert>>;

/** The row for a new image (exported for bulk inserts). */
export const toRow = (i: NewImage): ImageRow => ({
  id: i.id,
  delete_key_hash: i.deleteKeyHash,
  original_name: i.originalName,
  mime: i.mime,
  ext: i.ext,
  size: i.size,
  width: i.width,
  height: i.height,
  frames: i.frames,
  sha256: i.sha256,
  thumb_size: i.thumbSize,
  thumb_width: i.thumbWidth,
  thumb_height: i.thumbHeight,
  thumb_sha256: i.thumbSha256,
  display_size: i.displaySize ?? null,
  display_width: i.displayWidth ?? null,
  display_height: i.displayHeight ?? null,
  display_sha256: i.displaySha256 ?? null,
  created_at: i.createdAt,
  owner_id: i.ownerId ?? null,
  visibility: i.visibility ?? 'unlisted',
  title: i.title ?? null,
  expires_at: i.expiresAt ?? null,
  missing_since: i.missingSince ?? null,
  moderation_state: i.moderationState ?? null,
  moderation_reason: i.moderationReason ?? null,
  pixel_sha256: i.pixelSha256 ?? null,
  phash: i.phash ?? null,
  source_url: i.sourceUrl ?? null,
});
