import { Router, type Request } from 'express';
import { checkCurrentPassword } from '../../../services/account-settings.service.js';
import {
  cancelAccountDeletion,
  cancelAccountDeletionWithToken,
  isCancelToken,
  purgeDateOf,
  requestAccountDeletion,
} from '../../../services/account-deletion.service.js';
import { AppError, NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { field } from '../../form-fields.js';
import { clearSessionCookie } from '../../middleware/session.middleware.js';
import { authOf, RESTORE_PATH, requireUser } from '../../middleware/require-user.middleware.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';
import { sendExport } from '../../export-download.js';

const NO_STORE = { 'Cache-Control': 'no-store' };
const day = (d: Date) => d.toISOString().slice(0, 10);

/** Settings → Danger zone, the restore page for a pending account, the emailed "keep my account" link, and the data export. */
export function accountDeletionRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'deletion' | 'logger' | 'repos' | 'settings' | 'storage'>): Router {
  const router = Router();
  const https = deps.config.https;
  const deletion = deps.deletion;
  const settings = deps.settings;

  router.post('/account/settings/delete', requireUser, deps.csrf.protect, async (req, res) => {
    const { user, session } = authOf(req);
    try {
      await checkCurrentPassword(settings, user, session.idHash, field(req, 'current_password'), 'delete_account', clientInfo(req));
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'wrong_password' || wantsJson(req)) throw err;
      res.redirect(303, '/account/settings?failed=delete#danger-heading');
      return;
    }
    const purgeAt = await requestAccountDeletion(deletion, user, clientInfo(req));
    clearSessionCookie(res, https);
    res.set(NO_STORE);
    if (wantsJson(req)) {
      res.json({ deletionRequested: true, purgeAt: purgeAt.toISOString() });
      return;
    }
    res.render('notice', {
      title: 'Your account will be deleted',
      message: `You are signed out everywhere and your images are no longer shown. On ${day(purgeAt)} the account and everything in it are erased for good. Until then, the link we emailed you, or simply logging in, restores it.`,
      next: { href: '/', label: 'Go to the home page' },
    });
  });

  const restorePage = (req: Request) => {
    const { user } = authOf(req);
    return { title: 'Restore your account', purgeOn: day(purgeDateOf(user.deletionRequestedAt ?? deps.clock(), deps.config.accountPurgeDays)) };
  };

  router.get(RESTORE_PATH, requireUser, (req, res) => {
    if (!authOf(req).user.deletionRequestedAt) {
      res.redirect(303, '/account/images');
      return;
    }
    res.set(NO_STORE).render('account/restore', restorePage(req));
  });

  router.post(RESTORE_PATH, requireUser, deps.csrf.protect, async (req, res) => {
    const restored = await cancelAccountDeletion(deletion, authOf(req).user.id, clientInfo(req));
    if (wantsJson(req)) {
      res.json({ restored: true, images: restored });
      return;
    }
    res.redirect(303, '/account/images?done=restored');
  });

  // The emailed link: GET only shows a button (mail scanners follow links), the POST does it.
  router.get('/account/keep/:token', (req, res) => {
    if (!isCancelToken(String(req.params.token))) throw new NotFound();
    res.set({ ...NO_STORE, 'Referrer-Policy': 'no-referrer' }).render('account/keep', { title: 'Keep your account' });
  });

  router.post('/account/keep/:token', deps.csrf.protect, async (req, res) => {
    await cancelAccountDeletionWithToken(deletion, String(req.params.token), clientInfo(req));
    res.set(NO_STORE);
    if (wantsJson(req)) {
      res.json({ restored: true });
      return;
    }
    res.render('notice', { title: 'Your account is kept', message: 'Your account and its images are back. Log in to use it.', next: { href: '/login', label: 'Log in' } });
  });

  // Access and portability: a ZIP of account.json and every original, streamed as it is made.
  router.get('/account/export', requireUser, async (req, res) => {
    const { user } = authOf(req);
    const now = deps.clock();
    await deps.repos.securityLog.insert({ event: 'account.export', userId: user.id, ...clientInfo(req) }, now);
    await sendExport(req, res, deps, user, now);
  });

  return router;
}
