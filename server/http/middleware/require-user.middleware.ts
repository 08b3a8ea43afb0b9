import type { Request, RequestHandler } from 'express';
import { callerOf } from '../auth-context.js';
import type { SessionCaller } from '../../services/caller.js';
import { Forbidden, Unauthorized } from '../../errors.js';
import { wantsJson } from '../errors.js';

export const RESTORE_PATH = '/account/restore';
const pendingMessage = 'Your account is waiting to be deleted. Restore it first (on /account/restore) to use it again.';

/**
 * Account pages: browsers are sent to the login page, API clients get 401. An account waiting for its purge can
 * only be restored: every other account page sends the browser to the restore page (403 for API clients).
 */
export const requireUser: RequestHandler = (req, res, next) => {
  const caller = callerOf(req);
  if (caller.kind === 'session' && caller.user.deletionRequestedAt && req.path !== RESTORE_PATH) {
    if (req.method === 'GET' && !wantsJson(req)) {
      res.redirect(303, RESTORE_PATH);
      return;
    }
    next(new Forbidden(pendingMessage, 'account_pending_deletion'));
    return;
  }
  if (caller.kind === 'session') {
    next();
    return;
  }
  if (req.method === 'GET' && !wantsJson(req)) {
    res.redirect(303, '/login');
    return;
  }
  next(new Unauthorized());
};

/** The signed-in user of a request that went through requireUser. */
export function authOf(req: Request): SessionCaller {
  const caller = callerOf(req);
  if (caller.kind !== 'session') throw new Unauthorized();
  return caller;
}
