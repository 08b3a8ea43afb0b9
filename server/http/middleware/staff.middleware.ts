import { hasRole, type SessionCaller } from '../../services/caller.js';
import { callerOf } from '../auth-context.js';
import type { Request, RequestHandler } from 'express';
import type { Role } from '../../db/users.repo.js';
import { Forbidden, NotFound } from '../../errors.js';
import { reauthenticate } from '../../services/account-settings.service.js';
import type { RouteDeps } from '../route-deps.js';
import { formError, wantsJson } from '../errors.js';
import { clientInfo } from '../request-info.js';
import { authOf } from './require-user.middleware.js';

const messages = {
  reauthRequired: (minutes: number) => `Type your password again first (needed every ${minutes} minutes for actions that destroy something).`,
};

/** Staff pages answer 404 to everyone else (they do not even admit to existing), and are never cached. */
export const requireStaff =
  (...roles: Role[]): RequestHandler =>
  (req, res, next) => {
    if (!hasRole(callerOf(req), ...roles)) throw new NotFound();
    res.set('Cache-Control', 'no-store');
    next();
  };

export const REAUTH_PATH = '/admin/reauth';

/** A local admin path to come back to after re-authenticating; anything else falls back to the dashboard. */
export const safeNext = (value: unknown): string => (typeof value === 'string' && /^\/admin(\/[\w./-]*)?(\?[\w=&%.-]*)?$/.test(value) && !value.includes('//') ? value : '/admin');

/** The re-auth form's password field: a name no staff form uses, so it is never mistaken for one of theirs. */
export const REAUTH_FIELD = 'reauth_password';

/** The fields of the action being held, to send back with the password: strings and lists of strings, never a password. */
function carriedFields(req: Request): Array<[string, string]> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(body)) {
    if (name === REAUTH_FIELD || /password/i.test(name)) continue;
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) if (typeof v === 'string') pairs.push([name, v]);
  }
  return pairs;
}

/** True when this session typed its password within the last `minutes` (staff actions, creating an API key). */
export function reauthIsRecent(auth: SessionCaller, now: Date, minutes: number): boolean {
  const at = auth.session.reauthAt;
  return at !== null && now.getTime() - at.getTime() <= minutes * 60_000;
}

/**
 * Destructive staff actions need the password typed within the last STAFF_REAUTH_MINUTES in this session. JSON
 * clients get 403 reauth_required. A browser's form post is held, not dropped: it is answered with the password
 * form, which carries the action's fields (CSRF token included) back to the same action; with the right password
 * the session is marked re-authenticated and the action goes ahead. A GET goes to the re-auth page and comes back.
 */
export function requireRecentReauth(deps: Pick<RouteDeps, 'clock' | 'config' | 'repos' | 'settings'>): RequestHandler {
  const settings = deps.settings;
  const minutes = deps.config.staffReauthMinutes;
  return async (req, res, next) => {
    const auth = authOf(req);
    if (reauthIsRecent(auth, deps.clock(), minutes)) {
      next();
      return;
    }
    if (wantsJson(req)) throw new Forbidden(messages.reauthRequired(minutes), 'reauth_required');
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.redirect(303, `${REAUTH_PATH}?next=${encodeURIComponent(safeNext(req.originalUrl))}`);
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const held = { title: 'Confirm it is you', next: null, action: req.originalUrl, carried: carriedFields(req) };
    if (!Object.hasOwn(body, REAUTH_FIELD)) {
      res.set('Cache-Control', 'no-store').render('admin/reauth', { ...held, error: null });
      return;
    }
    const password = body[REAUTH_FIELD];
    delete body[REAUTH_FIELD];
    try {
      await reauthenticate(settings, auth.user, auth.session.idHash, typeof password === 'string' ? password : '', clientInfo(req), 'staff_reauth');
    } catch (err) {
      res.render('admin/reauth', { ...held, error: formError(req, res, err).message });
      return;
    }
    req.caller = { ...auth, session: { ...auth.session, reauthAt: deps.clock() } };
    next();
  };
}
