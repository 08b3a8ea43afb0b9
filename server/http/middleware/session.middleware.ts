import { GUEST } from '../../services/caller.js';
import type { RequestHandler, Response } from 'express';
import type { UserRecord } from '../../db/users.repo.js';
import { DEVICE_COOKIE_DAYS, type KnownDevices } from '../../services/known-devices.service.js';
import { resumeSession, type SessionsDeps } from '../../services/sessions.service.js';
import { cookieNames } from '../auth-context.js';

/** A new device cookie for this browser and account (services/known-devices.service.ts): kept after logout. */
export async function setDeviceCookie(res: Response, https: boolean, devices: KnownDevices, user: UserRecord): Promise<void> {
  res.cookie(cookieNames(https).device, await devices.issue(user), sessionCookieOptions(https, DEVICE_COOKIE_DAYS * 24 * 60 * 60 * 1000));
}

export function sessionCookieOptions(https: boolean, maxAgeMs?: number) {
  return { httpOnly: true, sameSite: 'lax' as const, secure: https, path: '/', ...(maxAgeMs ? { maxAge: maxAgeMs } : {}) };
}

export function setSessionCookie(res: Response, https: boolean, value: string, maxDays: number): void {
  res.cookie(cookieNames(https).session, value, sessionCookieOptions(https, maxDays * 24 * 60 * 60 * 1000));
}

export function clearSessionCookie(res: Response, https: boolean): void {
  res.clearCookie(cookieNames(https).session, sessionCookieOptions(https));
}

/** Sets req.caller: the session the cookie names, else a guest; a dead cookie is cleared. */
export function loadSession(deps: SessionsDeps & { https: boolean }): RequestHandler {
  const name = cookieNames(deps.https).session;
  return async (req, res, next) => {
    req.caller = GUEST;
    const value = (req.cookies as Record<string, string | undefined>)[name];
    if (value) {
      const resumed = await resumeSession(deps, value);
      if (resumed) {
        req.caller = { kind: 'session', user: resumed.user, session: { idHash: resumed.idHash, publicId: resumed.publicId, reauthAt: resumed.reauthAt } };
        res.locals.currentUser = { id: resumed.user.id, username: resumed.user.username, emailVerified: resumed.user.emailVerifiedAt !== null, role: resumed.user.role };
      } else {
        clearSessionCookie(res, deps.https);
      }
    }
    next();
  };
}
