import type { Request, RequestHandler } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import { Forbidden } from '../../errors.js';
import { cookieNames } from '../auth-context.js';

const message = 'This form has expired or was sent from another site. Reload the page and try again.';

/**
 * csrf-csrf's double-submit cookie, bound by HMAC to the session (or to "no session" before login), so a token
 * from one session is worthless in another. Forms carry it as _csrf, scripts as the X-CSRF-Token header.
 */
export function createCsrf(options: { secret: () => string; https: boolean }) {
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => options.secret(),
    getSessionIdentifier: (req) => (req.caller?.kind === 'session' ? req.caller.session.idHash : ''), // CSRF stays bound to browser sessions
    cookieName: cookieNames(options.https).csrf,
    cookieOptions: { sameSite: 'strict', path: '/', secure: options.https, httpOnly: true },
    getCsrfTokenFromRequest: (req) => {
      const field = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof field === 'string' ? field : req.headers['x-csrf-token'];
    },
  });

  /** Lets templates call csrfToken() only where a form needs it, so plain page views set no cookie. */
  const provideToken: RequestHandler = (req, res, next) => {
    let token: string | undefined;
    res.locals.csrfToken = () => (token ??= generateCsrfToken(req, res));
    next();
  };

  const check = (req: Request): void => {
    if (!validateRequest(req)) throw new Forbidden(message, 'csrf_failed');
  };

  /** For urlencoded forms: the body is parsed before this runs. */
  const protect: RequestHandler = (req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') check(req);
    next();
  };

  return { provideToken, protect, check };
}

export type Csrf = ReturnType<typeof createCsrf>;
