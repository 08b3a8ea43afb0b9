import { callerOf, requestUser } from '../../auth-context.js';
import { Router, type Request } from 'express';
import { findImage } from '../../../services/images.service.js';
import { REPORT_REASONS, submitReport } from '../../../services/reports.service.js';
import { botCheckFor } from '../../../services/bot-check.service.js';
import { NotFound } from '../../../errors.js';
import { wantsJson, formError } from '../../errors.js';
import { isAlbumId } from '../../../services/albums.service.js';
import { checked, field } from '../../form-fields.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';

type Target = { kind: 'image' | 'album'; id: string; action: string; back: string };

/** Anyone who can see an image or album can report it; the bot check guards the form when it is on, and a per-IP limit. */
export function reportRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'limits' | 'repos'>): Router {
  const router = Router();
  const hostname = new URL(deps.config.publicUrl).hostname;
  const botCheck = botCheckFor(deps);
  const page = (target: Target, extra: object = {}) => ({ title: `Report this ${target.kind}`, reasons: REPORT_REASONS, target, values: {}, error: null, ...extra });

  // Anyone who can see the image or album: a private image or a hidden album is "not found" here too.
  const targetOf = async (req: Request): Promise<Target> => {
    const id = String(req.params.id);
    if (!req.path.startsWith('/report/album/')) {
      const image = await findImage(deps.repos, id, callerOf(req));
      return { kind: 'image', id: image.id, action: `/report/${image.id}`, back: `/i/${image.id}` };
    }
    const album = isAlbumId(id) ? await deps.repos.albums.findShared(id) : null;
    if (!album) throw new NotFound();
    return { kind: 'album', id: album.id, action: `/report/album/${album.id}`, back: `/a/${album.id}` };
  };

  router.get(['/report/:id', '/report/album/:id'], async (req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex' }).render('public/report', page(await targetOf(req)));
  });

  router.post(['/report/:id', '/report/album/:id'], deps.csrf.protect, async (req, res) => {
    const target = await targetOf(req);
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
      if (botCheck.field !== null) await botCheck.verify({ answer: field(req, botCheck.field) || undefined, remoteIp: req.ip, action: 'report', hostname });
      await submitReport(
        deps.repos,
        target,
        {
          reason: values.reason,
          details: values.details,
          email: values.email,
          copyright: { work: values.work, originalUrl: values.originalUrl, claimant: values.claimant, contact: values.contact, signature: values.signature, goodFaith: checked(req, 'good_faith'), accurate: checked(req, 'accurate') },
        },
        { userId: requestUser(req)?.id ?? null, ...clientInfo(req) },
        deps.clock(),
      );
    } catch (err) {
      const shown = formError(req, res, err);
      res.render('public/report', page(target, { values, error: shown.message }));
      return;
    }
    if (wantsJson(req)) {
      res.status(201).json({ reported: true });
      return;
    }
    res.set('Cache-Control', 'no-store').render('notice', { title: 'Thank you', message: 'Your report reached the moderators of this site. They review every report.', next: { href: target.back, label: `Back to the ${target.kind}` } });
  });

  return router;
}
