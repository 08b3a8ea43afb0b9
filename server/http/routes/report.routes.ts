import { Router, type Request } from 'express';
import { findImage } from '../../services/images.service.js';
import { REPORT_REASONS, submitReport } from '../../services/moderation.service.js';
import { verifyTurnstile } from '../../services/turnstile.service.js';
import { AppError, wantsJson } from '../errors.js';
import { checked, field } from '../form-fields.js';
import { clientInfo } from '../request-info.js';
import type { AccountDeps } from './account-deps.js';

/** Anyone who can see an image can report it; Turnstile guards the form when it is on, and a per-IP limit. */
export function reportRoutes(deps: AccountDeps): Router {
  const router = Router();
  const hostname = new URL(deps.config.publicUrl).hostname;
  const page = (req: Request, extra: object = {}) => ({ title: 'Report an image', reasons: REPORT_REASONS, imageId: String(req.params.id), values: {}, error: null, ...extra });

  router.get('/report/:id', async (req, res) => {
    await findImage(deps, String(req.params.id), req.auth?.user.id);
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex' }).render('report', page(req));
  });

  router.post('/report/:id', deps.csrf.protect, async (req, res) => {
    const image = await findImage(deps, String(req.params.id), req.auth?.user.id);
    const values = {
      reason: field(req, 'reason'),
      details: field(req, 'details'),
      email: field(req, 'email'),
      work: field(req, 'work'),
      originalUrl: field(req, 'original_url'),
      claimant: field(req, 'claimant'),
      contact: field(req, 'contact'),
      signature: field(req, 'signature'),
    };
    try {
      await deps.limits.consume('reportPerIp', req.ip ?? 'unknown');
      if (deps.config.turnstile) {
        await verifyTurnstile(deps.config.turnstile, { token: field(req, 'cf-turnstile-response') || undefined, remoteIp: req.ip, action: 'report', hostname });
      }
      await submitReport(
        deps,
        image.id,
        {
          reason: values.reason,
          details: values.details,
          email: values.email,
          copyright: { work: values.work, originalUrl: values.originalUrl, claimant: values.claimant, contact: values.contact, signature: values.signature, goodFaith: checked(req, 'good_faith'), accurate: checked(req, 'accurate') },
        },
        { userId: req.auth?.user.id ?? null, ...clientInfo(req) },
        deps.clock(),
      );
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || wantsJson(req)) throw err;
      res.status(err.status).set(err.headers).set('Cache-Control', 'no-store').render('report', page(req, { values, error: err.message }));
      return;
    }
    if (wantsJson(req)) {
      res.status(201).json({ reported: true });
      return;
    }
    res.set('Cache-Control', 'no-store').render('notice', { title: 'Thank you', message: 'Your report reached the moderators of this site. They review every report.', next: { href: `/i/${image.id}`, label: 'Back to the image' } });
  });

  return router;
}
