import type { ApiKeyRecord } from '../db/api-keys.repo.js';
import type { ApiDailyCount, ApiRequestEntry } from '../db/api-requests.repo.js';
import type { Repos } from '../db/repos.js';
import { DAY_MS } from '../lib/time.js';

/** What the account holder sees of their API keys' use: the request log, kept API_LOG_RETENTION_DAYS. */
export type ApiUsageDeps = { repos: Pick<Repos, 'apiRequests'>; clock: () => Date; retentionDays: number };

/** How many of a key's newest requests its page lists. */
export const RECENT_REQUESTS = 50;

export type KeyStatus = 'active' | 'revoked' | 'expired';

export function keyStatus(key: Pick<ApiKeyRecord, 'revokedAt' | 'expiresAt'>, now: Date): KeyStatus {
  if (key.revokedAt) return 'revoked';
  return key.expiresAt && key.expiresAt <= now ? 'expired' : 'active';
}

export type KeyUsage = { recent: ApiRequestEntry[]; daily: ApiDailyCount[]; since: Date };

/**
 * One key's recent requests and its daily counts over the retention window. Both queries are scoped by the owner,
 * so a key id from another account reads as no use at all; the caller still checks ownership first (ownApiKey).
 */
export async function keyUsage(deps: ApiUsageDeps, userId: string, keyId: string): Promise<KeyUsage> {
  const since = new Date(deps.clock().getTime() - deps.retentionDays * DAY_MS);
  const [recent, daily] = await Promise.all([deps.repos.apiRequests.recentForKey(userId, keyId, RECENT_REQUESTS), deps.repos.apiRequests.dailyForKey(userId, keyId, since)]);
  return { recent, daily, since };
}

/** Each of the user's keys' requests, uploads and bytes over the retention window, for the keys list. */
export async function usageByKey(deps: ApiUsageDeps, userId: string) {
  return deps.repos.apiRequests.totalsByKey(userId, new Date(deps.clock().getTime() - deps.retentionDays * DAY_MS));
}
