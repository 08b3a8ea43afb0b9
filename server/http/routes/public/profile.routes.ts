import { Router } from 'express';
import { listOptionsFrom, listOwnerImages } from '../../../services/account-images.service.js';
import { NotFound } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import type { RouteDeps } from '../../route-deps.js';
import { imageSummary, pageHref } from '../../presenters.js';

const messages = {
  noSuchUser: 'There is no user by that name.',
};

const USERNAME = /^[A-Za-z0-9_-]{1,32}$/;

/** A user's public profile: their public images only, newest first, in pages; unlisted and private never appear. */
export function profileRoutes(deps: Pick<RouteDeps, 'config' | 'repos' | 'servedImages'>): Router {
  const router = Router();

  router.get('/u/:username', async (req, res) => {
    const user = USERNAME.test(req.params.username) ? await deps.repos.users.findByUsername(req.params.username) : null;
    if (!user || user.deletionRequestedAt || user.suspendedAt) throw new NotFound(messages.noSuchUser);
    const options = { ...listOptionsFrom({ after: req.query.after }), sort: 'newest' as const };
    const since = deps.servedImages.epoch;
    const page = await listOwnerImages(deps, user.id, options, 'public');
    deps.servedImages.prime(page.images, since); // the thumbnails this page shows cost no query each
    const images = page.images.map((i) => imageSummary(deps.config.publicUrl, i));
    if (wantsJson(req)) {
      res.json({ user: { username: user.username }, images, next: page.next });
      return;
    }
    const base = `/u/${encodeURIComponent(user.username)}`;
    res.render('public/profile', {
      title: `Images by ${user.username}`,
      username: user.username,
      images,
      firstHref: options.after ? base : null,
      nextHref: page.next ? pageHref(base, options, page.next) : null,
    });
  });

  return router;
}
