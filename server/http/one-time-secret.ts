import { parse as parseCookies } from 'cookie';
import type { Request, Response } from 'express';

/**
 * Hands the delete key from the upload response to the result page exactly once, without putting it in a URL
 * (URLs end up in browser history, proxies and screenshots). The cookie is HttpOnly, SameSite=Strict, scoped
 * to that one result page and short-lived; the page clears it as it renders, so a reload no longer shows the key.
 */
export const DELETE_LINK_COOKIE_MINUTES = 10;
const MAX_AGE_MS = DELETE_LINK_COOKIE_MINUTES * 60 * 1000;
const cookieName = (id: string) => `pixbin_delete_${id}`;
const resultPath = (id: string) => `/upload/${id}`;

export function handOverDeleteKey(res: Response, options: { id: string; key: string; secure: boolean }): void {
  res.cookie(cookieName(options.id), options.key, {
    httpOnly: true,
    sameSite: 'strict',
    secure: options.secure,
    path: resultPath(options.id),
    maxAge: MAX_AGE_MS,
  });
}

/** Returns the handed-over key, if any, and removes it from the browser. */
export function takeDeleteKey(req: Request, res: Response, id: string): string | undefined {
  const key = parseCookies(req.headers.cookie ?? '')[cookieName(id)];
  if (key === undefined) return undefined;
  res.clearCookie(cookieName(id), { httpOnly: true, sameSite: 'strict', path: resultPath(id) });
  return key;
}
