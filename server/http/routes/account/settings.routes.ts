import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
  changeEmail,
  changePassword,
  changeUsername,
  listSessions,
  resendVerification,
  revokeOtherSessions,
  revokeSession,
  setMarketingConsent,
  settingsView,
} from '../../../services/account-settings.service.js';
import { allowanceOf } from '../../../services/upload-policy.service.js';
import { wantsJson, formError } from '../../errors.js';
import { clearSessionCookie, setDeviceCookie } from '../../middleware/session.middleware.js';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';
import { field } from '../../form-fields.js';

/** What a successful form says after the redirect; the query names a key, never free text. */
const messages = {
  username: 'Your username was changed.',
  email: 'Check the inbox of the new address: we sent it a link. Your address changes once you follow it.',
  verification: 'We sent a new confirmation link to your address. It may take a minute to arrive.',
  password: 'Your password was changed.',
  passwordSignedOut: 'Your password was changed and your other devices were signed out.',
  marketingOn: 'Thank you: you will get occasional news about this site. You can turn it off here at any time.',
  marketingOff: 'You will no longer get news about this site.',
  marketingSame: 'Your email preference was saved (it did not change).',
  revoked: 'That session was signed out.',
  revokedOthers: 'Every other session was signed out.',
} as const;
type Done = keyof typeof messages;

/** Which form an error belongs to, so the message is shown next to it. */
type Section = 'username' | 'email' | 'verification' | 'password' | 'marketing';

const checked = (req: Request, name: string): boolean => {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return value === true || ['yes', 'on', 'true'].includes(typeof value === 'string' ? value : '');
};
const NO_STORE = { 'Cache-Control': 'no-store' };
/** Dates on these pages, unambiguous whatever the reader's locale: "2026-11-25 14:03 UTC". */
const when = (d: Date): string => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function accountSettingsRoutes(deps: Pick<RouteDeps, 'config' | 'csrf' | 'knownDevices' | 'repos' | 'settings'>): Router {
  const router = Router();
  const https = deps.config.https;
  const settings = deps.settings;
  /**
   * A password change or signing out everywhere voids every device cookie of the account (a new device epoch): the
   * browser that did it gets a fresh one, so it stays a known device.
   */
  const keepThisDevice = async (res: Response, userId: string) => {
    const user = await deps.repos.users.findById(userId);
    if (user) await setDeviceCookie(res, https, deps.knownDevices, user);
  };

  const renderSettings = async (req: Request, res: Response, status: number, extra: { error?: string; errorFor?: Section; notice?: string; values?: object }) => {
    const view = await settingsView(settings, authOf(req).user.id);
    res.status(status).set(NO_STORE).render('account/settings', {
      title: 'Settings',
      when,
      ...view,
      allowance: allowanceOf(view.user, deps.config),
      values: {},
      purgeDays: deps.config.accountPurgeDays,
      deleteFailed: req.query.failed === 'delete',
      ...extra,
    });
  };

  /** Runs a settings form; a client error re-renders the page with the message beside its form, or answers JSON. */
  const form = (section: Section, handle: (req: Request, res: Response) => Promise<void>): RequestHandler[] => [
    requireUser,
    deps.csrf.protect,
    async (req, res) => {
      try {
        await handle(req, res);
      } catch (err) {
        const shown = formError(req, res, err);
        // Passwords are never echoed back into the page.
        await renderSettings(req, res, shown.status, { error: shown.message, errorFor: section, values: { username: field(req, 'username'), email: field(req, 'email') } });
      }
    },
  ];

  const done = (req: Request, res: Response, key: Done, to = '/account/settings') => {
    if (wantsJson(req)) {
      res.json({ ok: true, message: messages[key] });
      return;
    }
    res.redirect(303, `${to}?done=${key}`);
  };
  const noticeOf = (req: Request): string | undefined => {
    const key = req.query.done;
    return typeof key === 'string' && Object.hasOwn(messages, key) ? messages[key as Done] : undefined;
  };

  router.get('/account/settings', requireUser, async (req, res) => {
    if (wantsJson(req)) {
      const { user, marketingHistory } = await settingsView(settings, authOf(req).user.id);
      res.set(NO_STORE).json({
        user: { id: user.id, username: user.username, email: user.email, emailVerified: user.emailVerifiedAt !== null, marketingConsent: user.marketingConsent },
        marketingHistory: marketingHistory.map((e) => ({ value: e.value, at: e.createdAt.toISOString() })),
      });
      return;
    }
    await renderSettings(req, res, 200, { notice: noticeOf(req) });
  });

  router.post('/account/settings/username', ...form('username', async (req, res) => {
    await changeUsername(settings, authOf(req).user, field(req, 'username'), clientInfo(req));
    done(req, res, 'username');
  }));

  router.post('/account/settings/email', ...form('email', async (req, res) => {
    const auth = authOf(req);
    await changeEmail(settings, auth.user, auth.session.idHash, { email: field(req, 'email'), currentPassword: field(req, 'current_password') }, clientInfo(req));
    done(req, res, 'email');
  }));

  router.post('/account/settings/verification', ...form('verification', async (req, res) => {
    await resendVerification(settings, authOf(req).user, clientInfo(req));
    done(req, res, 'verification');
  }));

  router.post('/account/settings/password', ...form('password', async (req, res) => {
    const auth = authOf(req);
    const input = { currentPassword: field(req, 'current_password'), newPassword: field(req, 'new_password'), signOutOthers: checked(req, 'sign_out_others') };
    await changePassword(settings, auth.user, auth.session.idHash, input, clientInfo(req));
    await keepThisDevice(res, auth.user.id);
    done(req, res, input.signOutOthers ? 'passwordSignedOut' : 'password');
  }));

  router.post('/account/settings/marketing', ...form('marketing', async (req, res) => {
    const value = checked(req, 'marketing');
    const changed = await setMarketingConsent(settings, authOf(req).user, value, clientInfo(req));
    done(req, res, !changed ? 'marketingSame' : value ? 'marketingOn' : 'marketingOff');
  }));

  router.get('/account/sessions', requireUser, async (req, res) => {
    const auth = authOf(req);
    const sessions = await listSessions(settings, auth.user.id, auth.session.publicId);
    if (wantsJson(req)) {
      res.set(NO_STORE).json({ sessions: sessions.map((s) => ({ ...s, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString() })) });
      return;
    }
    res.set(NO_STORE).render('account/sessions', { title: 'Signed-in devices', when, sessions, notice: noticeOf(req) });
  });

  router.post('/account/sessions/revoke-others', requireUser, deps.csrf.protect, async (req, res) => {
    const auth = authOf(req);
    await revokeOtherSessions(settings, auth.user.id, auth.session.idHash, clientInfo(req));
    await keepThisDevice(res, auth.user.id);
    done(req, res, 'revokedOthers', '/account/sessions');
  });

  router.post('/account/sessions/:publicId/revoke', requireUser, deps.csrf.protect, async (req, res) => {
    const auth = authOf(req);
    const publicId = String(req.params.publicId);
    await revokeSession(settings, auth.user.id, publicId, clientInfo(req));
    if (publicId === auth.session.publicId) {
      // This browser's own session: it is now logged out.
      clearSessionCookie(res, https);
      if (wantsJson(req)) {
        res.json({ ok: true, loggedOut: true });
        return;
      }
      res.redirect(303, '/login');
      return;
    }
    done(req, res, 'revoked', '/account/sessions');
  });

  return router;
}
