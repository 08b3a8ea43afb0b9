import type { Request } from 'express';

/** What the security log records about a request's origin; read nowhere else. */
export function clientInfo(req: Request): { ip: string | undefined; userAgent: string | undefined } {
  return { ip: req.ip, userAgent: req.get('user-agent') };
}
