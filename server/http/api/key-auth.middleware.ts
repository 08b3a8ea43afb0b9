import type { Request, RequestHandler, Response } from 'express';
import type { Repos } from '../../db/repos.js';
import { BadRequest, Unauthorized } from '../../errors.js';
import { authenticateApiKey, RefusedApiKey } from '../../services/api-keys.service.js';
import { LIMITS, RateLimited, type LimitName, type LimitState, type RateLimits } from '../../services/rate-limits.service.js';
import { keyCaller } from './endpoint.js';
import { markKeyPresented } from './problem.js';
import { recordRefusedKey } from './request-log.middleware.js';

/**
 * How /api/v1 knows its caller: an API key in `Authorization: Bearer` (or `X-API-Key`), never a cookie. Failed
 * checks count against the caller's address (as the login form does) and their answers say what is left of that;
 * every call with a good key counts against the key and its account, and its answer says what is left of those.
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

const FAIL_LIMIT = 'apiAuthFailPerIp';

/**
 * Sets req.caller to the key's caller, or answers 401. An unknown key id and a wrong secret take the same path
 * (the service compares against a decoy hash). A presented key spends a point of its address's failure allowance up
 * front and gets it back when it turns out good: the store counts atomically, so a parallel burst of guesses gets
 * exactly the allowance and no more. No key at all spends nothing (it guesses nothing; a preflight or a neighbour
 * behind the same NAT must not lock valid keys out), but an address that is blocked is refused either way.
 */
export function authenticateKey(deps: AuthDeps): RequestHandler {
  return async (req, res, next) => {
    const ip = req.ip ?? 'unknown';
    const raw = presentedKey(req);
    if (raw === null) {
      setLimitHeaders(res, FAIL_LIMIT, await withLimitHeaders(res, FAIL_LIMIT, deps.limits.check(FAIL_LIMIT, ip)));
      throw new Unauthorized(messages.keyRequired, 'api_key_required');
    }
    markKeyPresented(res);
    const allowance = await withLimitHeaders(res, FAIL_LIMIT, deps.limits.consume(FAIL_LIMIT, ip));
    try {
      req.caller = await authenticateApiKey({ repos: deps.repos, clock: deps.clock }, raw);
    } catch (err) {
      if (err instanceof RefusedApiKey) recordRefusedKey(res, err.key);
      setLimitHeaders(res, FAIL_LIMIT, allowance);
      throw err;
    }
    await deps.limits.reward(FAIL_LIMIT, ip);
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

/** What a limit call answered; when it refuses (429), the answer still says the limit and that nothing is left. */
async function withLimitHeaders(res: Response, name: LimitName, call: Promise<LimitState>): Promise<LimitState> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof RateLimited) setLimitHeaders(res, name, { limit: err.limit ?? LIMITS[name].points, remaining: 0, resetSeconds: err.retryAfterSeconds ?? 0 });
    throw err;
  }
}

/** Spends one call of the key's and the account's allowance and reports the tighter of the two on the answer. */
export function keyRateLimits(deps: { limits: RateLimits }): RequestHandler {
  return async (req, res, next) => {
    const caller = keyCaller(req);
    let tightest: { name: LimitName; state: LimitState } | null = null;
    for (const [name, key] of [['apiPerKey', caller.keyId], ['apiPerAccount', caller.user.id]] as const) {
      const state = await withLimitHeaders(res, name, deps.limits.consume(name, key));
      if (!tightest || state.remaining < tightest.state.remaining) tightest = { name, state };
    }
    setLimitHeaders(res, tightest!.name, tightest!.state);
    next();
  };
}
