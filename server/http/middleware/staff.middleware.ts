import type { RequestHandler } from 'express';
import type { Role } from '../../db/users.repo.js';
import { Forbidden, NotFound } from '../../errors.js';
import { wantsJson } from '../errors.js';

/** Staff pages answer 404 to everyone else (they do not even admit to existing), and are never cached. */
export const requireStaff =
  (...roles: Role[]): RequestHandler =>
  (req, res, next) => {
    const user = req.auth?.user;
    if (!user || !roles.includes(user.role) || user.deletionRequestedAt) throw new NotFound();
    res.set('Cache-Control', 'no-store');
    next();
  };

export const REAUTH_PATH = '/admin/reauth';

/** A local admin path to come back to after re-authenticating; anything else falls back to the dashboard. */
export const safeNext = (value: unknown): string => (typeof value === 'string' && /^\/admin(\/[\w./-]*)?(\?[\w=&%.-]*)?$/.test(value) && !value.includes('//') ? value : '/admin');

/** Destructive staff actions need the password typed within the last `minutes` in this session. */
export const requireRecentReauth =
  (minutes: number, clock: () => Date): RequestHandler =>
  (req, res, next) => {
    const at = req.auth?.reauthAt;
    if (at && clock().getTime() - at.getTime() <= minutes * 60_000) {
      next();
      return;
    }
    if (wantsJson(req)) throw new Forbidden(`Type your password again first (needed every ${minutes} minutes for actions that destroy something).`, 'reauth_required');
    res.redirect(303, `${REAUTH_PATH}?next=${encodeURIComponent(safeNext(req.get('referer') ? new URL(req.get('referer')!, 'http://x').pathname : '/admin'))}`);
  };
