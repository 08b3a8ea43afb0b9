import { callerOf, cookieNames } from '../../auth-context.js';
import type { RouteDeps } from '../../route-deps.js';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { authenticate, isResetTokenUsable, messages, requestPasswordReset, resetPassword, signUp, verifyEmail } from '../../../services/auth.service.js';
import type { UserRecord } from '../../../db/users.repo.js';
import { endSession, startSession } from '../../../services/sessions.service.js';
import { botCheckFor, type BotAction } from '../../../services/bot-check.service.js';
import { isDeviceBudget, typedKey } from '../../../services/known-devices.service.js';
import { BadRequest } from '../../../errors.js';
import { wantsJson, formError } from '../../errors.js';
import { clearSessionCookie, setDeviceCookie, setSessionCookie } from '../../middleware/session.middleware.js';
import { clientInfo, countryOf } from '../../request-info.js';
import { field } from '../../form-fields.js';

type Deps = Pick<RouteDeps, 'auth' | 'clock' | 'config' | 'csrf' | 'knownDevices' | 'limits' | 'repos' | 'sessions'>;

const checked = (req: Request, name: string): boolean => ['yes', 'on', 'true'].includes(field(req, name));
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Runs a form handler; a client error re-renders the form with the message (HTML) or answers it as JSON.
 * Passwords are never echoed back into the form.
 */
function formHandler(view: string, locals: (req: Request) => object, handle: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return async (req, res) => {
    try {
      await handle(req, res);
    } catch (err) {
      const shown = formError(req, res, err);
      // Only string fields go back into the form (a hostile JSON body may hold anything), never the password.
      const values = Object.fromEntries(
        Object.entries((req.body ?? {}) as Record<string, unknown>).filter(([name, value]) => typeof value === 'string' && name !== 'password' && name !== '_csrf'),
      );
      res.render(view, { ...locals(req), error: shown.message, values });
    }
  };
}

export function authRoutes(deps: Deps): Router {
  const router = Router();
  const https = deps.config.https;
  const hostname = new URL(deps.config.publicUrl).hostname;
  const signupLocals = () => ({ title: 'Create an account', minAge: deps.config.minAge, termsVersion: deps.config.termsVersion });

  const guard = botCheckFor(deps);
  const botCheck = (action: BotAction) => async (req: Request) => {
    if (guard.field !== null) await guard.verify({ answer: field(req, guard.field) || undefined, remoteIp: req.ip, action, hostname });
  };
  const ipKey = (req: Request) => req.ip ?? 'unknown';
  const devices = deps.knownDevices;
  const deviceCookie = cookieNames(https).device;
  const deviceOf = (req: Request) => (req.cookies as Record<string, string | undefined>)[deviceCookie];

  const logIn = async (req: Request, res: Response, user: UserRecord) => {
    // A fresh session id at every login: a session fixed before login is worth nothing after it.
    const caller = callerOf(req);
    if (caller.kind === 'session') await endSession(deps.sessions, caller.session.idHash);
    const value = await startSession(deps.sessions, user.id, req.get('user-agent'));
    setSessionCookie(res, https, value, deps.config.sessionMaxDays);
    // A new device id at every login; logging out keeps it, so this browser stays known to the account.
    await setDeviceCookie(res, https, devices, user);
  };

  router.get('/signup', (_req, res) => res.render('public/auth/signup', { ...signupLocals(), values: {} }));
  router.post(
    '/signup',
    deps.csrf.protect,
    formHandler('public/auth/signup', signupLocals, async (req, res) => {
      await deps.limits.consume('signupPerIp', ipKey(req));
      await botCheck('signup')(req);
      // Each sign-up with a taken address mails its owner: bound that per address too (after the bot check, so
      // nobody can block an address's sign-up without solving it).
      // Keyed by a hash of the address: a fixed length whatever was typed, and no address in the table.
      await deps.limits.consume('signupPerAddress', typedKey(field(req, 'email')));
      const input = {
        username: field(req, 'username'),
        email: field(req, 'email'),
        password: field(req, 'password'),
        ageConfirmed: checked(req, 'age'),
        termsAccepted: checked(req, 'terms'),
        marketing: checked(req, 'marketing'),
      };
      await signUp(deps.auth, input, { ...clientInfo(req), country: countryOf(req, deps.config.consentCountryHeader) });
      if (wantsJson(req)) {
        res.status(202).json({ status: 'check_email', message: messages.checkEmail });
        return;
      }
      res.render('notice', { title: 'Check your email', message: messages.checkEmail, next: { href: '/login', label: 'Log in' } });
    }),
  );

  router.get('/login', (_req, res) => res.render('public/auth/login', { title: 'Log in', values: {} }));
  router.post(
    '/login',
    deps.csrf.protect,
    formHandler('public/auth/login', () => ({ title: 'Log in' }), async (req, res) => {
      const login = field(req, 'login').trim().toLowerCase().slice(0, 254);
      // A browser that holds this account's device cookie spends only its own budget, after the bot check: not
      // its address's (behind carrier-grade NAT strangers share it) and not the account's shared one. Every other
      // attempt spends per IP first (anyone can spend that), then the bot check, and only then the account's shared
      // budget. So nobody can lock an account out without solving the bot check, and nobody can lock out the
      // owner's known browsers at all.
      const budget = await devices.loginBudget(login, deviceOf(req));
      if (!isDeviceBudget(budget)) await deps.limits.consume('loginPerIp', ipKey(req));
      await botCheck('login')(req);
      await deps.limits.consume(budget.name, budget.key);
      const user = await authenticate(deps.auth, login, field(req, 'password'), clientInfo(req));
      await deps.limits.reset(budget.name, budget.key);
      await logIn(req, res, user);
      const pending = user.deletionRequestedAt !== null;
      if (wantsJson(req)) {
        res.json({ user: { id: user.id, username: user.username }, ...(pending ? { pendingDeletion: true } : {}) });
        return;
      }
      // Logging in during the grace period offers to keep the account.
      res.redirect(303, pending ? '/account/restore' : '/account/images');
    }),
  );

  router.post('/logout', deps.csrf.protect, async (req, res) => {
    const caller = callerOf(req);
    if (caller.kind === 'session') await endSession(deps.sessions, caller.session.idHash);
    clearSessionCookie(res, https);
    if (wantsJson(req)) {
      res.json({ loggedOut: true });
      return;
    }
    res.redirect(303, '/');
  });

  router.get('/forgot-password', (_req, res) => res.render('public/auth/forgot-password', { title: 'Reset your password' }));
  router.post(
    '/forgot-password',
    deps.csrf.protect,
    formHandler('public/auth/forgot-password', () => ({ title: 'Reset your password' }), async (req, res) => {
      const email = field(req, 'email').trim().toLowerCase();
      // As for logins: a known browser spends only its own budget; others per IP, the bot check, then the address's.
      const budget = await devices.resetBudget(email, deviceOf(req));
      if (!isDeviceBudget(budget)) await deps.limits.consume('resetPerIp', ipKey(req));
      await botCheck('reset')(req);
      await deps.limits.consume(budget.name, budget.key);
      await requestPasswordReset(deps.auth, email, clientInfo(req));
      if (wantsJson(req)) {
        res.status(202).json({ status: 'check_email', message: messages.resetSent });
        return;
      }
      res.render('notice', { title: 'Check your email', message: messages.resetSent });
    }),
  );

  // Links from emails carry the token in the path; these pages must not leak it as a referrer or be cached.
  const noLeak = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };
  const badLink = (res: Response) => res.status(400).set(noLeak).render('notice', { title: 'Link not valid', message: messages.badToken, next: { href: '/forgot-password', label: 'Ask for a new link' } });

  router.get('/reset-password/:token', async (req, res) => {
    if (!TOKEN.test(req.params.token) || !(await isResetTokenUsable(deps.auth, req.params.token))) {
      badLink(res);
      return;
    }
    res.set(noLeak).render('public/auth/reset-password', { title: 'Choose a new password' });
  });
  router.post(
    '/reset-password/:token',
    deps.csrf.protect,
    formHandler('public/auth/reset-password', () => ({ title: 'Choose a new password' }), async (req, res) => {
      res.set(noLeak);
      if (!TOKEN.test(String(req.params.token))) throw new BadRequest(messages.badToken, 'bad_token');
      await resetPassword(deps.auth, String(req.params.token), field(req, 'password'), clientInfo(req));
      // The reset signed out every session, including this browser's.
      clearSessionCookie(res, https);
      if (wantsJson(req)) {
        res.json({ reset: true });
        return;
      }
      res.render('notice', { title: 'Password changed', message: 'Your password was changed and every device was signed out. Log in with the new password.', next: { href: '/login', label: 'Log in' } });
    }),
  );

  // GET only shows a button: mail scanners that open links must not spend the token.
  router.get('/verify-email/:token', (req, res) => {
    if (!TOKEN.test(req.params.token)) {
      badLink(res);
      return;
    }
    res.set(noLeak).render('public/auth/verify-email', { title: 'Confirm your email address' });
  });
  router.post(
    '/verify-email/:token',
    deps.csrf.protect,
    formHandler('public/auth/verify-email', () => ({ title: 'Confirm your email address' }), async (req, res) => {
      res.set(noLeak);
      if (!TOKEN.test(String(req.params.token))) throw new BadRequest(messages.badToken, 'bad_token');
      await verifyEmail(deps.auth, String(req.params.token));
      if (wantsJson(req)) {
        res.json({ verified: true });
        return;
      }
      res.render('notice', { title: 'Address confirmed', message: 'Thank you: your email address is confirmed.', next: callerOf(req).kind === 'session' ? { href: '/account/images', label: 'Go to my images' } : { href: '/login', label: 'Log in' } });
    }),
  );

  return router;
}
