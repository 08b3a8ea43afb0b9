import type { RouteDeps } from '../../route-deps.js';
import { ownImage } from '../../../services/account-images.service.js';
import { addImages, albumWithImages, createAlbum, deleteAlbum, listAlbums, removeImages, renameAlbum } from '../../../services/albums.service.js';
import type { ApiSurface } from '../../api/endpoint.js';
import { apiAlbum, apiAlbumImage } from '../../api/presenters.js';
import { AlbumBody, AlbumDetailSchema, AlbumImageParams, AlbumListSchema, AlbumParams, AlbumQuery, AlbumSchema } from '../../api/schemas.js';
import { aboutField } from '../../api/validation.js';

export type AlbumsEndpointDeps = Pick<RouteDeps, 'config' | 'albums' | 'images'>;

const TAG = 'Albums';

/** /api/v1/albums: the caller's albums and which of their images each holds. Another account's album is a 404. */
export function albumEndpoints(api: ApiSurface, deps: AlbumsEndpointDeps): void {
  const { publicUrl } = deps.config;
  /** An album with its image count (the first image is fetched only to learn the count). */
  const albumAnswer = async (ownerId: string, albumId: string) => {
    const { album, total } = await albumWithImages(deps.albums, ownerId, albumId, { limit: 1, offset: 0 });
    return apiAlbum(publicUrl, album, total);
  };

  api.keyed({
    method: 'get',
    path: '/albums',
    operationId: 'listAlbums',
    tag: TAG,
    scope: 'albums:read',
    summary: 'List your albums',
    description: 'Newest first.',
    success: { status: 200, description: 'Every album of the account.', schema: AlbumListSchema },
    handle: async ({ res, caller }) => {
      const albums = await listAlbums(deps.albums, caller.user.id);
      res.json({ data: albums.map((album) => apiAlbum(publicUrl, album, album.imageCount)) });
    },
  });

  api.keyed({
    method: 'post',
    path: '/albums',
    operationId: 'createAlbum',
    tag: TAG,
    scope: 'albums:write',
    summary: 'Create an album',
    body: { kind: 'json', schema: AlbumBody },
    success: { status: 201, description: 'The new, empty album.', schema: AlbumSchema },
    errors: [400, 413, 415],
    handle: async ({ res, caller, body }) => {
      const album = await aboutField('title', () => createAlbum(deps.albums, caller.user.id, body.title));
      res.status(201).json(apiAlbum(publicUrl, album, 0));
    },
  });

  api.keyed({
    method: 'get',
    path: '/albums/{id}',
    operationId: 'getAlbum',
    tag: TAG,
    scope: 'albums:read',
    summary: 'Get an album and a page of its images',
    description: 'Images come newest first, `limit` at a time; pass `next_offset` as `offset` for the next page.',
    params: AlbumParams,
    query: AlbumQuery,
    success: { status: 200, description: 'The album with one page of its images.', schema: AlbumDetailSchema },
    errors: [400, 404],
    handle: async ({ res, caller, params, query }) => {
      const { album, images, total } = await albumWithImages(deps.albums, caller.user.id, params.id, { limit: query.limit, offset: query.offset });
      const next = query.offset + images.length;
      res.json({ ...apiAlbum(publicUrl, album, total), images: images.map((image) => apiAlbumImage(publicUrl, image)), next_offset: images.length > 0 && next < total ? next : null });
    },
  });

  api.keyed({
    method: 'patch',
    path: '/albums/{id}',
    operationId: 'renameAlbum',
    tag: TAG,
    scope: 'albums:write',
    summary: 'Rename an album',
    params: AlbumParams,
    body: { kind: 'json', schema: AlbumBody },
    success: { status: 200, description: 'The album as it is now.', schema: AlbumSchema },
    errors: [400, 404, 413, 415],
    handle: async ({ res, caller, params, body }) => {
      await aboutField('title', () => renameAlbum(deps.albums, caller.user.id, params.id, body.title));
      res.json(await albumAnswer(caller.user.id, params.id));
    },
  });

  api.keyed({
    method: 'delete',
    path: '/albums/{id}',
    operationId: 'deleteAlbum',
    tag: TAG,
    scope: 'albums:write',
    summary: 'Delete an album',
    description: 'The album goes; its images stay.',
    params: AlbumParams,
    success: { status: 204, description: 'Deleted.' },
    errors: [404],
    handle: async ({ res, caller, params }) => {
      await deleteAlbum(deps.albums, caller.user.id, params.id);
      res.status(204).end();
    },
  });

  api.keyed({
    method: 'put',
    path: '/albums/{id}/images/{image_id}',
    operationId: 'addImageToAlbum',
    tag: TAG,
    scope: 'albums:write',
    summary: 'Add one of your images to an album',
    description: 'Idempotent: adding an image that is already there changes nothing.',
    params: AlbumImageParams,
    success: { status: 204, description: 'The image is in the album.' },
    errors: [404],
    handle: async ({ res, caller, params }) => {
      await addImages(deps.albums, caller.user.id, params.id, [params.image_id]);
      res.status(204).end();
    },
  });

  api.keyed({
    method: 'delete',
    path: '/albums/{id}/images/{image_id}',
    operationId: 'removeImageFromAlbum',
    tag: TAG,
    scope: 'albums:write',
    summary: 'Take an image out of an album',
    description: 'Idempotent: taking out an image that is not in the album changes nothing. The image itself stays.',
    params: AlbumImageParams,
    success: { status: 204, description: 'The image is not in the album.' },
    errors: [404],
    handle: async ({ res, caller, params }) => {
      await ownImage(deps.images, caller.user.id, params.image_id); // someone else's image is a 404, as everywhere
      await removeImages(deps.albums, caller.user.id, params.id, [params.image_id]);
      res.status(204).end();
    },
  });
}
