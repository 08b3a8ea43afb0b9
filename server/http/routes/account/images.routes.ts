import express, { Router, type Request, type Response } from 'express';
import { isImageId } from '../../../lib/ids.js';
import {
  changeVisibility,
  deleteOwnedImages,
  listOptionsFrom,
  listOwnerImages,
  MAX_BULK_IDS,
  parseIds,
  renameImage,
  changeVisibilityOfMany,
  type ListOptions,
} from '../../../services/account-images.service.js';
import { addImages, listAlbums } from '../../../services/albums.service.js';
import { claimImage } from '../../../services/claim.service.js';
import { ownerModerationNotices } from '../../../services/moderation.service.js';
import { allowanceOf } from '../../../services/upload-policy.service.js';
import { BadRequest, NotFound } from '../../../errors.js';
import { wantsJson, formError } from '../../errors.js';
import { imageSummary, pageHref } from '../../presenters.js';
import { embedSnippets } from '../../../lib/snippets.js';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import { clientInfo } from '../../request-info.js';
import type { RouteDeps } from '../../route-deps.js';

const messages = {
  noAlbum: 'Choose the album to add the ticked images to.',
  done: {
    renamed: 'Title saved.',
    public: 'The image is now public: it is listed on your profile.',
    unlisted: 'The image is now unlisted: anyone with its link can see it, and it is not listed anywhere.',
    private: 'The image is now private: only you can see it.',
    deleted: (n: number) => (n === 1 ? 'Deleted 1 image.' : `Deleted ${n} images.`),
    visibility: (n: number, v: string) => `${n === 1 ? '1 image is' : `${n} images are`} now ${v}.`,
    album: (n: number) => `${n === 1 ? 'The image is' : `All ${n} images are`} in the album now.`,
    claimed: 'The image is now in your account. Its old delete link no longer works.',
    restored: 'Your account is restored: it is no longer set to be deleted, and your images are shown again.',
  },
};

const idParam = (req: Request): string => String(req.params.id ?? '');
const field = (req: Request, name: string): unknown => (req.body as Record<string, unknown> | undefined)?.[name];
const text = (req: Request, name: string): string => {
  const value = field(req, name);
  return typeof value === 'string' ? value : '';
};

// Where a form on the list sends the browser back to: only ever a page of the list itself.
const BACK = /^\/account\/images(?:\?[A-Za-z0-9_.~%=&+-]*)?$/;
function backTo(req: Request, done: string, count?: number, extra: Record<string, string> = {}): string {
  const back = text(req, 'back');
  const url = new URL(BACK.test(back) ? back : '/account/images', 'http://local');
  for (const name of ['done', 'n', 'v']) url.searchParams.delete(name);
  url.searchParams.set('done', done);
  if (count !== undefined) url.searchParams.set('n', String(count));
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  return `${url.pathname}${url.search}`;
}

function doneNotice(query: Record<string, unknown>): string | null {
  const done = typeof query.done === 'string' ? query.done : '';
  if (done === 'deleted') return messages.done.deleted(Math.max(0, Number(query.n) || 0));
  const n = Math.max(0, Number(query.n) || 0);
  if (done === 'visibility' && (query.v === 'public' || query.v === 'unlisted' || query.v === 'private')) return messages.done.visibility(n, query.v);
  if (done === 'album') return messages.done.album(n);
  if (done === 'renamed' || done === 'public' || done === 'unlisted' || done === 'private' || done === 'claimed' || done === 'restored') return messages.done[done];
  return null;
}

/**
 * The bulk-delete form carries up to 500 ids, more fields than the app-wide form parser allows; this parser is
 * mounted ahead of it for that one route (the global parser then sees the body already read and skips it).
 */
export function accountImagesBodyParsers(): Router {
  const router = Router();
  const limit = '32kb';
  router.post(
    ['/account/images/delete', '/account/images/visibility', '/account/images/album'],
    express.urlencoded({ extended: false, limit, parameterLimit: MAX_BULK_IDS + 10 }),
    express.json({ limit }),
  );
  return router;
}

export function accountImagesRoutes(deps: Pick<RouteDeps, 'albums' | 'config' | 'csrf' | 'images' | 'limits' | 'repos' | 'servedImages'>): Router {
  const router = Router();
  const service = deps.images;
  const publicUrl = deps.config.publicUrl;

  const renderList = async (req: Request, res: Response, extra: { status?: number; claimError?: string; options?: ListOptions } = {}) => {
    const { user } = authOf(req);
    const options = extra.options ?? listOptionsFrom(req.query);
    const since = deps.servedImages.epoch;
    const page = await listOwnerImages(service, user.id, options);
    deps.servedImages.prime(page.images, since); // the thumbnails this page shows cost no query each
    res.set('Cache-Control', 'private, no-store');
    // The statement of reasons for every moderation decision about the account's images.
    const moderation = await ownerModerationNotices(deps.repos, user.id);
    const albums = page.images.length ? await listAlbums(deps.albums, user.id) : [];
    if (wantsJson(req)) {
      // Numbers only: the address the notice names stays on the page.
      const { email: _email, ...usage } = allowanceOf(user, deps.config);
      res.json({ images: page.images.map((i) => imageSummary(publicUrl, i)), next: page.next, usage, moderation });
      return;
    }
    res.status(extra.status ?? 200).render('account/images', {
      title: 'My images',
      images: page.images.map((i) => imageSummary(publicUrl, i)),
      options,
      usage: allowanceOf(user, deps.config),
      profileUrl: `/u/${encodeURIComponent(user.username)}`,
      here: req.originalUrl.split('#')[0],
      firstHref: options.after ? pageHref('/account/images', options) : null,
      nextHref: page.next ? pageHref('/account/images', options, page.next) : null,
      notice: extra.claimError ? null : doneNotice(req.query),
      claimError: extra.claimError ?? null,
      moderation,
      albums: albums.map((a) => ({ id: a.id, title: a.title })),
      snippetsOf: (image: ReturnType<typeof imageSummary>) => embedSnippets({ name: image.label, pageUrl: image.pageUrl, url: image.url, width: image.width, height: image.height }),
    });
  };

  /** JSON clients get the result; browsers go back to the page they came from, with a notice. */
  const answer = (req: Request, res: Response, json: object, done: string, count?: number, extra?: Record<string, string>) => {
    if (wantsJson(req)) res.json(json);
    else res.redirect(303, backTo(req, done, count, extra));
  };

  router.get('/account/images', requireUser, (req, res) => renderList(req, res));

  router.post('/account/images/delete', requireUser, deps.csrf.protect, async (req, res) => {
    const ids = parseIds(field(req, 'ids'));
    const deleted = await deleteOwnedImages(service, authOf(req).user.id, ids, clientInfo(req));
    answer(req, res, { deleted }, 'deleted', deleted);
  });

  // The bulk bar's other buttons (formaction): one visibility for every ticked image, or all of them into one album.
  router.post('/account/images/visibility', requireUser, deps.csrf.protect, async (req, res) => {
    const result = await changeVisibilityOfMany(service, authOf(req).user.id, parseIds(field(req, 'ids')), field(req, 'visibility'));
    answer(req, res, result, 'visibility', result.changed, { v: result.visibility });
  });

  router.post('/account/images/album', requireUser, deps.csrf.protect, async (req, res) => {
    const ids = parseIds(field(req, 'ids'));
    if (!text(req, 'album')) throw new BadRequest(messages.noAlbum, 'no_album', 'album');
    const added = await addImages(deps.albums, authOf(req).user.id, text(req, 'album'), ids);
    answer(req, res, { added }, 'album', added);
  });

  router.post('/account/images/:id/title', requireUser, deps.csrf.protect, async (req, res) => {
    const title = await renameImage(service, authOf(req).user.id, idParam(req), text(req, 'title'));
    answer(req, res, { id: idParam(req), title }, 'renamed');
  });

  router.post('/account/images/:id/visibility', requireUser, deps.csrf.protect, async (req, res) => {
    const visibility = await changeVisibility(service, authOf(req).user.id, idParam(req), field(req, 'visibility'));
    answer(req, res, { id: idParam(req), visibility }, visibility);
  });

  router.post('/account/images/:id/delete', requireUser, deps.csrf.protect, async (req, res) => {
    if (!isImageId(idParam(req))) throw new NotFound();
    const deleted = await deleteOwnedImages(service, authOf(req).user.id, [idParam(req)], clientInfo(req));
    if (deleted === 0) throw new NotFound();
    answer(req, res, { deleted }, 'deleted', deleted);
  });

  router.post('/account/claim', requireUser, deps.csrf.protect, async (req, res) => {
    const { user } = authOf(req);
    try {
      await deps.limits.consume('deletePerIp', req.ip ?? 'unknown'); // a claim tests a delete key, like a delete does
      const image = await claimImage(service, user.id, { link: text(req, 'link'), id: text(req, 'id'), key: text(req, 'key') }, clientInfo(req));
      if (wantsJson(req)) {
        res.json({ claimed: true, image: imageSummary(publicUrl, image) });
        return;
      }
      res.redirect(303, '/account/images?done=claimed');
    } catch (err) {
      // A browser sees the list again with the message by the claim form (the pasted link is not echoed back).
      const shown = formError(req, res, err);
      await renderList(req, res, { status: shown.status, claimError: shown.message, options: { sort: 'newest', search: '', after: null } });
    }
  });

  return router;
}
