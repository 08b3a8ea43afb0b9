import type { RouteDeps } from '../../route-deps.js';
import { Router } from 'express';
import { createFirstAdmin, isSetupTokenValid } from '../../../services/admin-setup.service.js';
import { startSession } from '../../../services/sessions.service.js';
import { NotFound } from '../../../errors.js';
import { wantsJson, formError } from '../../errors.js';
import { setSessionCookie } from '../../middleware/session.middleware.js';
import { clientInfo } from '../../request-info.js';
import { field } from '../../form-fields.js';


/** The one-time first-admin page; once an admin exists every setup URL answers 404. */
export function setupRoutes(deps: Pick<RouteDeps, 'auth' | 'config' | 'csrf' | 'sessions'>): Router {
  const router = Router();
  const noLeak = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' };

  router.get('/setup/:token', async (req, res) => {
    if (!(await isSetupTokenValid(deps.auth.repos, req.params.token))) throw new NotFound();
    res.set(noLeak).render('public/setup', { title: 'Set up Pixbin', values: {} });
  });

  router.post('/setup/:token', deps.csrf.protect, async (req, res) => {
    res.set(noLeak);
    const input = { username: field(req, 'username'), email: field(req, 'email'), password: field(req, 'password') };
    let admin;
    try {
      admin = await createFirstAdmin(deps.auth, String(req.params.token), input, clientInfo(req));
    } catch (err) {
      const shown = formError(req, res, err, (e) => e.status === 400);
      res.render('public/setup', { title: 'Set up Pixbin', error: shown.message, values: { username: input.username, email: input.email } });
      return;
    }
    const value = await startSession(deps.sessions, admin.id, req.get('user-agent'));
    setSessionCookie(res, deps.config.https, value, deps.config.sessionMaxDays);
    if (wantsJson(req)) {
      res.status(201).json({ admin: { id: admin.id, username: admin.username } });
      return;
    }
    res.redirect(303, '/account/images');
  });

  return router;
}
