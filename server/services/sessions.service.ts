import { randomBytes } from 'node:crypto';
import type { SessionsRepo } from '../db/sessions.repo.js';
import type { UsersRepo, UserRecord } from '../db/users.repo.js';
import { randomBase62 } from '../lib/ids.js';
import { sha256Hex } from '../lib/hash.js';
import type { SessionLookupCache, SessionViewer } from './session-lookup-cache.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Writing last_seen on every request would turn each page view into a database write; a minute is precise enough.
const TOUCH_INTERVAL_MS = 60_000;
const SESSION_VALUE = /^[A-Za-z0-9_-]{43}$/;

export type SessionsDeps = { sessions: SessionsRepo; users: UsersRepo; clock: () => Date; idleDays: number; maxDays: number };

/** A new session: 256 random bits in the cookie, only their SHA-256 in the database. */
export async function startSession(deps: SessionsDeps, userId: string, userAgent: string | undefined): Promise<string> {
  const value = randomBytes(32).toString('base64url');
  const now = deps.clock();
  const absolute = new Date(now.getTime() + deps.maxDays * DAY_MS);
  await deps.sessions.insert({
    idHash: sha256Hex(value),
    publicId: randomBase62(16),
    userId,
    userAgent: userAgent?.slice(0, 512) ?? null,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: new Date(Math.min(now.getTime() + deps.idleDays * DAY_MS, absolute.getTime())),
    absoluteExpiresAt: absolute,
  });
  return value;
}

/** Resolves a cookie value to its live session and user (one query), sliding the idle expiry (never past the absolute one). */
export async function resumeSession(
  deps: SessionsDeps,
  value: string,
): Promise<{ user: UserRecord; idHash: string; publicId: string; reauthAt: Date | null; expiresAt: Date } | null> {
  if (!SESSION_VALUE.test(value)) return null;
  const idHash = sha256Hex(value);
  const now = deps.clock();
  const found = await deps.sessions.findActiveWithUser(idHash, now);
  // Suspension ends every session; this also covers a session resumed while the suspension was being written.
  if (!found || found.user.suspendedAt) return null;
  const { session, user } = found;
  let expiresAt = session.expiresAt;
  if (now.getTime() - session.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
    expiresAt = new Date(Math.min(now.getTime() + deps.idleDays * DAY_MS, session.absoluteExpiresAt.getTime()));
    await deps.sessions.touch(idHash, now, expiresAt);
  }
  return { user, idHash, publicId: session.publicId, reauthAt: session.reauthAt ?? null, expiresAt: new Date(Math.min(expiresAt.getTime(), session.absoluteExpiresAt.getTime())) };
}

/**
 * resumeSession through a per-process cache, for the image fast path's private images: whose session the cookie is,
 * and nothing more. Within the cache's TTL (1 s) a burst of thumbnails costs one lookup; any write to sessions or
 * users in this process (logout, revoke, suspension, password or role change, deletion) ends the cached answers at
 * once, and a session's expiry is checked against deps.clock() on every hit. Null: no live session.
 */
export async function resumeSessionCached(deps: SessionsDeps, cache: SessionLookupCache, value: string): Promise<SessionViewer | null> {
  if (!SESSION_VALUE.test(value)) return null;
  const idHash = sha256Hex(value);
  return cache.get(idHash, deps.clock(), async () => {
    const resumed = await resumeSession(deps, value);
    return resumed ? { userId: resumed.user.id, idHash: resumed.idHash, expiresAt: resumed.expiresAt } : null;
  });
}

export async function endSession(deps: Pick<SessionsDeps, 'sessions'>, idHash: string): Promise<void> {
  await deps.sessions.delete(idHash);
}
