import { Router, type Request, type RequestHandler, type Response } from 'express';
import { imageUrls } from '../../../lib/urls.js';
import {
  addImages,
  ALBUM_PAGE_SIZE,
  createAlbum,
  deleteAlbum,
  listAlbums,
  manageAlbum,
  MAX_TITLE_LENGTH,
  PICKER_PAGE_SIZE,
  removeImages,
  renameAlbum,
  setCover,
  
} from '../../../services/albums.service.js';
import { wantsJson, formError } from '../../errors.js';
import { pageParam } from '../../form-fields.js';
import { pageCount } from '../../presenters.js';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import type { RouteDeps } from '../../route-deps.js';

const body = (req: Request): Record<string, unknown> => (req.body as Record<string, unknown> | undefined) ?? {};
const text = (req: Request, name: string): string => {
  const value = body(req)[name];
  return typeof value === 'string' ? value : '';
};
/** Checkbox forms send image_id once per box; JSON clients may send imageIds: [...]. */
const ids = (req: Request): unknown => body(req).imageIds ?? body(req).image_id;
const albumPath = (id: string) => `/account/albums/${id}`;

export function albumsRoutes(deps: Pick<RouteDeps, 'albums' | 'clock' | 'config' | 'csrf' | 'repos'>): Router {
  const router = Router();
  const albums = deps.albums;
  const urls = (image: { id: string; ext: string }) => imageUrls(deps.config.publicUrl, image);
  const shareUrl = (id: string) => `${deps.config.publicUrl}/a/${id}`;

  const renderList = async (req: Request, res: Response, extra: { error?: string; values?: object } = {}) => {
    const list = await listAlbums(albums, authOf(req).user.id);
    res.set('Cache-Control', 'no-store').render('account/albums', { title: 'Albums', albums: list, urls, maxTitle: MAX_TITLE_LENGTH, values: {}, ...extra });
  };

  const renderManage = async (req: Request, res: Response, extra: { error?: string } = {}) => {
    const pages = { page: pageParam(req, 'page'), pick: pageParam(req, 'pick') };
    const view = await manageAlbum(albums, authOf(req).user.id, String(req.params.id), pages);
    res.set('Cache-Control', 'no-store').render('account/album', {
      title: view.album.title,
      ...view,
      pages: { ...pages, albumPages: pageCount(view.inAlbum.total, ALBUM_PAGE_SIZE), pickPages: pageCount(view.candidates.total, PICKER_PAGE_SIZE) },
      shareUrl: shareUrl(view.album.id),
      urls,
      maxTitle: MAX_TITLE_LENGTH,
      ...extra,
    });
  };

  /**
   * An album form: success answers JSON clients with the result and sends browsers back to a page (post/redirect/get);
   * a client error other than 404 re-renders the page the form was on, with the message.
   */
  const form = (
    onError: (req: Request, res: Response, error: string) => Promise<void>,
    handle: (req: Request, ownerId: string) => Promise<{ json: object; redirect: string; status?: number }>,
  ): RequestHandler[] => [
    requireUser,
    deps.csrf.protect,
    async (req: Request, res: Response) => {
      try {
        const done = await handle(req, authOf(req).user.id);
        if (wantsJson(req)) res.status(done.status ?? 200).json(done.json);
        else res.redirect(303, done.redirect);
      } catch (err) {
        const shown = formError(req, res, err, (e) => e.status !== 404);
        await onError(req, res, shown.message);
      }
    },
  ];

  const backToList = (req: Request, res: Response, error: string) => renderList(req, res, { error, values: { title: text(req, 'title') } });
  const backToAlbum = (req: Request, res: Response, error: string) => renderManage(req, res, { error });

  router.get('/account/albums', requireUser, (req, res) => renderList(req, res));

  router.post(
    '/account/albums',
    ...form(backToList, async (req, ownerId) => {
      const album = await createAlbum(albums, ownerId, text(req, 'title'));
      return { status: 201, json: { id: album.id, title: album.title, url: shareUrl(album.id) }, redirect: albumPath(album.id) };
    }),
  );

  router.get('/account/albums/:id', requireUser, (req, res) => renderManage(req, res));

  router.post(
    '/account/albums/:id/rename',
    ...form(backToAlbum, async (req, ownerId) => {
      await renameAlbum(albums, ownerId, String(req.params.id), text(req, 'title'));
      return { json: { ok: true }, redirect: albumPath(String(req.params.id)) };
    }),
  );

  router.post(
    '/account/albums/:id/delete',
    ...form(backToAlbum, async (req, ownerId) => {
      await deleteAlbum(albums, ownerId, String(req.params.id));
      return { json: { ok: true }, redirect: '/account/albums' };
    }),
  );

  router.post(
    '/account/albums/:id/images',
    ...form(backToAlbum, async (req, ownerId) => {
      const added = await addImages(albums, ownerId, String(req.params.id), ids(req));
      return { json: { added }, redirect: albumPath(String(req.params.id)) };
    }),
  );

  router.post(
    '/account/albums/:id/images/remove',
    ...form(backToAlbum, async (req, ownerId) => {
      const removed = await removeImages(albums, ownerId, String(req.params.id), ids(req));
      return { json: { removed }, redirect: albumPath(String(req.params.id)) };
    }),
  );

  router.post(
    '/account/albums/:id/cover',
    ...form(backToAlbum, async (req, ownerId) => {
      await setCover(albums, ownerId, String(req.params.id), body(req).image_id ?? body(req).imageId);
      return { json: { ok: true }, redirect: albumPath(String(req.params.id)) };
    }),
  );

  return router;
}
