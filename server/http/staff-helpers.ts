import type { Request, Response } from 'express';
import type { StaffActor } from '../services/audit.service.js';
import { wantsJson } from './errors.js';
import { authOf } from './middleware/require-user.middleware.js';
import { clientInfo } from './request-info.js';

/** How the staff pages print a time: minutes, in UTC, or "never". */
export const when = (d: Date | null): string => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');

/** The staff member acting, with their role (services check who may act on whom) and the request's origin. */
export const staffActorOf = (req: Request) => ({ user: authOf(req).user, ...clientInfo(req) }) satisfies StaffActor;

/** After a staff action: JSON clients get the body, a browser's form post goes on to `location`. */
export function answer(req: Request, res: Response, body: object, location: string, status = 200): void {
  if (wantsJson(req)) res.status(status).json(body);
  else res.redirect(303, location);
}
