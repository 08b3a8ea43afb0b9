import type { Request } from 'express';

/** What the security log records about a request's origin; read nowhere else. */
export function clientInfo(req: Request): { ip: string | undefined; userAgent: string | undefined } {
  return { ip: req.ip, userAgent: req.get('user-agent') };
}

/**
 * The visitor's country as the operator's proxy reports it in the configured header (Cloudflare's CF-IPCountry,
 * say): two capital letters or nothing. Pixbin never looks an address up anywhere.
 */
export function countryOf(req: Request, header: string | undefined): string | null {
  if (!header) return null;
  const value = req.get(header)?.trim().toUpperCase();
  return value && /^[A-Z]{2}$/.test(value) && value !== 'XX' && value !== 'T1' ? value : null;
}

/** Global Privacy Control: the browser asks for no optional processing. */
export const sendsGpc = (req: Request): boolean => req.get('sec-gpc')?.trim() === '1';
