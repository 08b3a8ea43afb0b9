import type { Request, RequestHandler } from 'express';
import type { AuthContext } from '../auth-context.js';
import { Unauthorized, wantsJson } from '../errors.js';

/** Account pages: browsers are sent to the login page, API clients get 401. */
export const requireUser: RequestHandler = (req, res, next) => {
  if (req.auth) {
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
export function authOf(req: Request): AuthContext {
  if (!req.auth) throw new Unauthorized();
  return req.auth;
}
