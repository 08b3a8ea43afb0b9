import type { Request } from 'express';
import type { StaffActor } from '../../services/audit.service.js';
import { authOf } from '../middleware/require-user.middleware.js';
import { clientInfo } from '../request-info.js';

/** How the staff pages print a time: minutes, in UTC, or "never". */
export const when = (d: Date | null): string => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');

/** The staff member acting, with their role (services check who may act on whom) and the request's origin. */
export const staffActorOf = (req: Request) => ({ user: authOf(req).user, ...clientInfo(req) }) satisfies StaffActor;
