import { requestUser } from '../../auth-context.js';
import { Router } from 'express';
import { imageUrls } from '../../../lib/urls.js';
import { decodeCursor } from '../../../services/account-images.service.js';
import { sharedAlbum } from '../../../services/albums.service.js';
import type { RouteDeps } from '../../route-deps.js';
import { pageParam } from '../../form-fields.js';

/** The public page of an album, /a/:id: what its owner chose to share, and for the owner the private images too. */
export function sharedAlbumRoutes(deps: Pick<RouteDeps, 'albums' | 'clock' | 'config' | 'repos'>): Router {
  const router = Router();
  const albums = deps.albums;
  const urls = (image: { id: string; ext: string }) => imageUrls(deps.config.publicUrl, image);
  const shareUrl = (id: string) => `${deps.config.publicUrl}/a/${id}`;

  router.get('/a/:id', async (req, res) => {
    // ?after=<cursor> pages (the Next link); an old ?page=N link still shows that page, its Next link a cursor.
    const after = typeof req.query.after === 'string' && req.query.after !== '' ? decodeCursor(req.query.after) : null;
    const page = after ? 1 : pageParam(req, 'page');
    const view = await sharedAlbum(albums, String(req.params.id), requestUser(req)?.id ?? null, { after, page });
    const base = `/a/${view.album.id}`;
    const preview = view.preview ? { ...view.preview, ...urls(view.preview) } : null;
    // The owner's version lists private images, so no shared cache may keep any version of this page.
    res.set({ 'X-Robots-Tag': 'noindex', 'Cache-Control': 'private, no-store' });
    res.render('public/album', {
      title: view.album.title,
      ...view,
      firstHref: view.firstPage ? null : base,
      nextHref: view.next ? `${base}?after=${view.next}` : null,
      pageUrl: shareUrl(view.album.id),
      preview,
      urls,
    });
  });

  return router;
}
