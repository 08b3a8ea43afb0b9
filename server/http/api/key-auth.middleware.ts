import type { Request, RequestHandler, Response } from 'express';
import type { Repos } from '../../db/repos.js';
import { AppError, BadRequest, Unauthorized } from '../../errors.js';
import { authenticateApiKey } from '../../services/api-keys.service.js';
import { LIMITS, RateLimited, type LimitName, type LimitState, type RateLimits } from '../../services/rate-limits.service.js';
import { keyCaller } from './endpoint.js';
import { markKeyPresented } from './problem.js';

/**
 * How /api/v1 knows its caller: an API key in `Authorization: Bearer` (or `X-API-Key`), never a cookie. Failed
 * checks count against the caller's address (as the login form does); every call with a key counts against the
 * key and its account, and every answer after that says what is left in RateLimit-* headers.
 */
const messages = {
  keyInQuery:
    'API keys go in the Authorization header ("Authorization: Bearer pxb_…") or in X-API-Key, never in the URL: URLs end up in server logs, browser history and proxies. Consider this key exposed: revoke it on /account/api-keys and create a new one.',
  keyRequired: 'This endpoint needs an API key: send "Authorization: Bearer pxb_…" (or "X-API-Key: pxb_…"). Create one on /account/api-keys. Cookies are not accepted here.',
};

// The shape of a key's public part: enough to know a key was pasted, wherever in the query it sits.
const KEY_IN_TEXT = /pxb_[0-9A-Za-z]{16}_/;

/** Refuses any request whose query string carries something shaped like a key (names and values, encoded or not). */
export const refuseKeyInQuery: RequestHandler = (req, _res, next) => {
  const at = req.originalUrl.indexOf('?');
  if (at >= 0) {
    const raw = req.originalUrl.slice(at + 1);
    let field: string | undefined;
    for (const [name, value] of new URLSearchParams(raw)) {
      if (KEY_IN_TEXT.test(name) || KEY_IN_TEXT.test(value)) field = KEY_IN_TEXT.test(name) ? 'query' : name;
    }
    if (field || KEY_IN_TEXT.test(raw)) throw new BadRequest(messages.keyInQuery, 'api_key_in_query', field ?? 'query');
  }
  next();
};

/** The key a request presents, or null when it sent none. A malformed Authorization header still counts as presented. */
function presentedKey(req: Request): string | null {
  const authorization = req.get('authorization');
  if (authorization !== undefined) return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1] ?? authorization;
  const header = req.get('x-api-key');
  return header === undefined ? null : header.trim();
}

type AuthDeps = { repos: Pick<Repos, 'apiKeys' | 'users'>; clock: () => Date; limits: RateLimits };

/**
 * Sets req.caller to the key's caller, or answers 401. An unknown key id and a wrong secret take the same path
 * (the service compares against a decoy hash). An address that keeps failing is refused (429) before any check.
 */
export function authenticateKey(deps: AuthDeps): RequestHandler {
  return async (req, res, next) => {
    const ip = req.ip ?? 'unknown';
    await deps.limits.check('apiAuthFailPerIp', ip);
    const raw = presentedKey(req);
    try {
      if (raw === null) throw new Unauthorized(messages.keyRequired, 'api_key_required');
      markKeyPresented(res);
      req.caller = await authenticateApiKey({ repos: deps.repos, clock: deps.clock }, raw);
    } catch (err) {
      if (err instanceof AppError && err.kind === 'unauthorized') {
        // The attempt that spends the last point still answers 401; the next one is refused by the check above.
        await deps.limits.consume('apiAuthFailPerIp', ip).catch((limitErr: unknown) => {
          if (!(limitErr instanceof RateLimited)) throw limitErr;
        });
      }
      throw err;
    }
    next();
  };
}

function setLimitHeaders(res: Response, name: LimitName, state: LimitState): void {
  res.set({
    'RateLimit-Limit': String(state.limit),
    'RateLimit-Remaining': String(state.remaining),
    'RateLimit-Reset': String(state.resetSeconds),
    'RateLimit-Policy': `${state.limit};w=${LIMITS[name].duration}`,
  });
}

/** Spends one call of the key's and the account's allowance and reports the tighter of the two on the answer. */
export function keyRateLimits(deps: { limits: RateLimits }): RequestHandler {
  return async (req, res, next) => {
    const caller = keyCaller(req);
    let tightest: { name: LimitName; state: LimitState } | null = null;
    for (const [name, key] of [['apiPerKey', caller.keyId], ['apiPerAccount', caller.user.id]] as const) {
      try {
        const state = await deps.limits.consume(name, key);
        if (!tightest || state.remaining < tightest.state.remaining) tightest = { name, state };
      } catch (err) {
        if (err instanceof RateLimited) setLimitHeaders(res, name, { limit: LIMITS[name].points, remaining: 0, resetSeconds: err.retryAfterSeconds ?? 0 });
        throw err;
      }
    }
    setLimitHeaders(res, tightest!.name, tightest!.state);
    next();
  };
}
