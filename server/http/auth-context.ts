import type { UserRecord } from '../db/users.repo.js';

/** What the session middleware attaches to a request. */
export type AuthContext = { user: UserRecord; sessionIdHash: string; sessionPublicId: string; reauthAt?: Date | null };

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

/** Cookie names: the __Host- prefix (https only) pins a cookie to this exact origin, path / and Secure. */
export function cookieNames(https: boolean) {
  return {
    session: https ? '__Host-pixbin_session' : 'pixbin_session',
    csrf: https ? '__Host-pixbin_csrf' : 'pixbin_csrf',
  };
}
