import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { PayloadTooLarge } from '../errors.js';
import { humanBytes } from '../lib/format.js';

/**
 * Storage quotas: an account's used_bytes counts every stored variant (original, thumbnail, display) of its images.
 * Bytes are reserved by one conditional UPDATE inside the transaction that records the image, so concurrent
 * uploads can never overshoot, and released in the transaction that removes the row.
 */
/** The repositories of the transaction that records (or removes) the image. */
type Tx = Pick<Repos, 'users'>;
export type Usage = { used: number; quota: number; free: number; percent: number };

const messages = {
  full: (u: Usage) =>
    `Your storage is full: ${humanBytes(u.used)} of your ${humanBytes(u.quota)} are used. Delete some images in My images to make room, then try again.`,
  tooBig: (needed: number, u: Usage) =>
    `This image needs ${humanBytes(needed)}, but only ${humanBytes(u.free)} of your ${humanBytes(u.quota)} storage is free. Delete some images in My images to make room, then try again.`,
};

export class QuotaExceeded extends PayloadTooLarge {
  constructor(message: string) {
    super(message, 'quota_exceeded');
  }
}

/**
 * What an image costs against its owner's quota: every variant that is stored. The display variant counts from
 * when it is recorded (at upload, or when the backfill adds its bytes); a recovery record from before it has none.
 */
export const storedBytes = (image: { size: number; thumbSize: number; displaySize?: number | null }): number => image.size + image.thumbSize + (image.displaySize ?? 0);

export function usageOf(user: Pick<UserRecord, 'usedBytes' | 'quotaBytes'>, defaultQuotaBytes: number): Usage {
  const quota = user.quotaBytes ?? defaultQuotaBytes;
  const used = user.usedBytes;
  const free = Math.max(0, quota - used);
  return { used, quota, free, percent: quota > 0 ? Math.min(100, Math.round((used / quota) * 100)) : 100 };
}

/** The cheap check before an upload is processed at all: an account already at or over its quota is refused. */
export function assertRoomLeft(user: Pick<UserRecord, 'usedBytes' | 'quotaBytes'>, defaultQuotaBytes: number): void {
  const usage = usageOf(user, defaultQuotaBytes);
  if (usage.free <= 0) throw new QuotaExceeded(messages.full(usage));
}

/** Reserves bytes for the account inside the transaction tx, or throws QuotaExceeded (413) saying how much room is left. */
export async function reserveStorage(tx: Tx, userId: string, bytes: number, defaultQuotaBytes: number): Promise<void> {
  if (await tx.users.reserveBytes(userId, bytes, defaultQuotaBytes)) return;
  // Read inside the transaction: on SQLite it holds the only connection.
  const user = await tx.users.findById(userId);
  const usage = usageOf(user ?? { usedBytes: 0, quotaBytes: 0 }, defaultQuotaBytes);
  throw new QuotaExceeded(usage.free <= 0 ? messages.full(usage) : messages.tooBig(bytes, usage));
}

/** Gives bytes back to the account, inside the transaction tx that removes the image. */
export async function releaseStorage(tx: Tx, userId: string, bytes: number): Promise<void> {
  if (bytes > 0) await tx.users.releaseBytes(userId, bytes);
}
