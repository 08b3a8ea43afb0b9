import type { Request } from 'express';
import type { UserRecord } from '../db/users.repo.js';
import { GUEST, userOf, type Caller } from '../services/caller.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who is calling; set by the session middleware (a guest until then). */
    caller?: Caller;
  }
}

/** The caller of a request: a browser session, or a guest. */
export const callerOf = (req: Request): Caller => req.caller ?? GUEST;

/** The signed-in account behind a request, or null for a guest. */
export const requestUser = (req: Request): UserRecord | null => userOf(callerOf(req));

/** Cookie names: the __Host- prefix (https only) pins a cookie to this exact origin, path / and Secure. */
export function cookieNames(https: boolean) {
  return {
    session: https ? '__Host-pixbin_session' : 'pixbin_session',
    csrf: https ? '__Host-pixbin_csrf' : 'pixbin_csrf',
    /** Marks a browser that logged in to an account before (services/known-devices.service.ts). */
    device: https ? '__Host-pixbin_device' : 'pixbin_device',
  };
}
