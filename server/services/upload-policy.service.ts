import type { Config } from '../config/config.js';
import type { Repos } from '../db/repos.js';
import type { UserRecord } from '../db/users.repo.js';
import { Forbidden } from '../errors.js';
import { humanBytes } from '../lib/format.js';
import { assertRoomLeft, QuotaExceeded, reserveStorage, usageOf, type Usage } from './quota.service.js';

/**
 * What an account may store while its email address is unconfirmed (issue 15, item 9): one solved sign-up must not
 * be a gigabyte of anonymous storage. Until the address is confirmed the account's quota is the smaller of its own
 * and UNVERIFIED_QUOTA_BYTES; with 0 it cannot upload at all and is told to confirm. Bytes it already stores stay.
 * The moment the address is confirmed (users.markEmailVerified ends cached sessions) its own quota applies again.
 */
export type QuotaPolicy = Pick<Config, 'defaultQuotaBytes' | 'unverifiedQuotaBytes'>;

type Account = Pick<UserRecord, 'usedBytes' | 'quotaBytes' | 'emailVerifiedAt' | 'email'>;

/** The account's usage against the quota that applies now, and why that quota is what it is. */
export type Allowance = Usage & {
  /** The account's own quota: what applies once the address is confirmed. */
  confirmedQuota: number;
  /** The address is unconfirmed and the policy gives less than the account's own quota until it is. */
  limitedUntilConfirmed: boolean;
  /** Limited to nothing: no upload until the address is confirmed. */
  mustConfirm: boolean;
  /** Where the confirmation link went (shown beside the resend button). */
  email: string;
};

const settingsPath = '/account/settings';
const messages = {
  mustConfirm: (email: string) =>
    `Confirm your email address to upload: we sent a link to ${email}. No message? Send it again from Settings (${settingsPath}).`,
  full: (a: Allowance) =>
    `Until you confirm your email address you can store ${humanBytes(a.quota)}, and ${humanBytes(a.used)} is used. Confirm it with the link we sent to ${a.email} (Settings can send it again) to get your full ${humanBytes(a.confirmedQuota)}.`,
  tooBig: (needed: number, a: Allowance) =>
    `This image needs ${humanBytes(needed)}, but only ${humanBytes(a.free)} of the ${humanBytes(a.quota)} you can store before confirming your email address is free. Confirm it with the link we sent to ${a.email} (Settings can send it again) to get your full ${humanBytes(a.confirmedQuota)}.`,
};

export class EmailUnconfirmed extends Forbidden {
  constructor(email: string) {
    super(messages.mustConfirm(email), 'email_unverified');
  }
}

export function allowanceOf(user: Account, policy: QuotaPolicy): Allowance {
  const confirmedQuota = user.quotaBytes ?? policy.defaultQuotaBytes;
  const limitedUntilConfirmed = user.emailVerifiedAt === null && policy.unverifiedQuotaBytes < confirmedQuota;
  const quota = limitedUntilConfirmed ? policy.unverifiedQuotaBytes : confirmedQuota;
  return {
    ...usageOf({ usedBytes: user.usedBytes, quotaBytes: quota }, policy.defaultQuotaBytes),
    confirmedQuota,
    limitedUntilConfirmed,
    mustConfirm: limitedUntilConfirmed && quota === 0,
    email: user.email,
  };
}

/**
 * The cheap check before an upload's body is read: an account that must confirm its address first gets 403
 * email_unverified; one at or over the quota that applies now gets 413 quota_exceeded.
 */
export function assertMayUpload(user: Account, policy: QuotaPolicy): void {
  const allowance = allowanceOf(user, policy);
  if (allowance.mustConfirm) throw new EmailUnconfirmed(user.email);
  if (allowance.limitedUntilConfirmed && allowance.free <= 0) throw new QuotaExceeded(messages.full(allowance));
  assertRoomLeft(user, policy.defaultQuotaBytes);
}

/**
 * Reserves an upload's bytes inside the transaction that records it. The account's own quota is reserved by one
 * conditional UPDATE (quota.service); the account is then read back, and an unconfirmed one is refused if the
 * reservation took it past its limit, which rolls the reservation back. The UPDATE holds the row until commit, so
 * concurrent uploads are serialised and each sees the others' bytes: together they cannot overshoot either.
 */
export async function reserveUploadStorage(tx: Pick<Repos, 'users'>, userId: string, bytes: number, policy: QuotaPolicy): Promise<void> {
  await reserveStorage(tx, userId, bytes, policy.defaultQuotaBytes);
  const after = await tx.users.findById(userId);
  if (!after) return;
  const now = allowanceOf(after, policy);
  if (!now.limitedUntilConfirmed || now.used <= now.quota) return;
  if (now.mustConfirm) throw new EmailUnconfirmed(after.email);
  throw new QuotaExceeded(messages.tooBig(bytes, allowanceOf({ ...after, usedBytes: after.usedBytes - bytes }, policy)));
}
