import type { RequestHandler } from 'express';
import type { RouteDeps } from '../../route-deps.js';
import type { Visibility } from '../../../db/images.repo.js';
import { secretUrls } from '../../../lib/urls.js';
import { cleanImageTitle, deleteOwnedImages, editImage, listOwnerImages, ownImage } from '../../../services/account-images.service.js';
import { requireScope } from '../../../services/api-keys.service.js';
import { admitUpload, uploadImage } from '../../../services/upload.service.js';
import { MAX_URL_REDIRECTS, uploadFromUrl, urlUploadDeps } from '../../../services/url-upload.service.js';
import { cleanTitle } from '../../../lib/title.js';
import { BadRequest, NotFound, UnsupportedMediaType } from '../../../errors.js';
import { apiCursors } from '../../api/cursor.js';
import { keyCaller, type ApiSurface } from '../../api/endpoint.js';
import { apiImage } from '../../api/presenters.js';
import { recordUploadBytes } from '../../api/request-log.middleware.js';
import { ImageListSchema, ImageParams, ImageSchema, ListImagesQuery, PatchImageBody, PlainUrlSchema, UploadFields } from '../../api/schemas.js';
import { aboutField, jsonBody } from '../../api/validation.js';
import { abortOnClientGone, singleImageUpload } from '../../middleware/upload.middleware.js';
import { clientInfo } from '../../request-info.js';

export type ImagesEndpointDeps = Pick<RouteDeps, 'config' | 'limits' | 'tempDir' | 'upload' | 'images' | 'albums' | 'outbound'>;

const TAG = 'Images';
const messages = {
  wrongType: 'Send the image as multipart/form-data in the field "file", or a link to one as JSON: {"url": "https://…"}.',
  fileAndUrl: 'Send either a file (the field "file") or a link (the field "url"), not both.',
  nothing: 'Send an image in the multipart field "file", or a link to one in the field "url".',
};

/** /api/v1/images: upload (the same pipeline as the web page), list, read, change and delete the caller's images. */
export function imageEndpoints(api: ApiSurface, deps: ImagesEndpointDeps): void {
  const { publicUrl } = deps.config;
  const cursors = apiCursors({ repos: deps.upload.repos, clock: deps.upload.clock });

  const urlUploads = urlUploadDeps(deps);
  // The web upload's gate (allowance, a full account, bans), then the body is read only if it is multipart or JSON.
  const uploadGate: RequestHandler = async (req, _res, next) => {
    if (!req.is(['multipart/form-data', 'application/json'])) throw new UnsupportedMediaType(messages.wrongType, 'unsupported_media_type');
    const { user } = keyCaller(req);
    await admitUpload(deps.upload, deps.limits, { user, ...clientInfo(req) });
    next();
  };
  const receiveFile = singleImageUpload({
    tempDir: deps.tempDir,
    maxBytes: deps.config.maxUploadBytes,
    fileOptional: true,
    // A link sent before the file: refused before a byte of the file is written.
    beforeFile: async (req) => {
      if (typeof req.body?.url === 'string' && req.body.url !== '') throw new BadRequest(messages.fileAndUrl, 'file_and_url');
    },
  });
  const uploadBody: RequestHandler = (req, res, next) => (req.is('application/json') ? jsonBody(req, res, next) : receiveFile(req, res, next));

  api.keyed({
    method: 'post',
    path: '/images',
    operationId: 'uploadImage',
    tag: TAG,
    scope: 'images:write',
    summary: 'Upload an image',
    description:
      'Send one image as multipart/form-data in the field `file`. It is checked, re-encoded and stripped of metadata exactly as on the upload page, and counts against your quota. `visibility` defaults to `unlisted`, as on the web. `album` puts the image in one of your albums and needs the `albums:write` scope as well. With `Accept: text/plain` the answer is only the direct URL.\n\n' +
      `Upload by URL: instead of \`file\`, send \`url\` (an http or https link to an image), either as a multipart field or as an \`application/json\` body with the same fields: \`{"url": "https://…", "visibility": "unlisted", "album": "…", "title": "…", "keep_source": true}\`. Send \`file\` or \`url\`, not both (400 \`file_and_url\`). The server fetches the link (at most ${MAX_URL_REDIRECTS} redirects, every hop checked) under the same size, type and pixel limits as a file; the type comes from the bytes, never from the remote Content-Type. Links to private, local or cloud-metadata addresses are refused (422 \`url_not_allowed\`) unless the operator lists them in OUTBOUND_ALLOW; links with a user:password part are refused (400 \`bad_url\`). A remote that answers non-2xx or cannot be reached gives 422 \`url_fetch_failed\`, one that stalls 422 \`url_timeout\`, more than the upload limit 413 \`file_too_large\`. The link is stored with the image only with \`keep_source: true\` (then returned as \`source_url\`).`,
    body: { kind: 'multipart', schema: UploadFields, file: { field: 'file', description: 'The image (JPEG, PNG, GIF, WebP or AVIF). Leave out when sending `url`.', optional: true }, alsoJson: true },
    before: [uploadGate, uploadBody],
    success: {
      status: 201,
      description: 'Uploaded. `delete_url` is shown only here.',
      schema: ImageSchema,
      alternatives: { 'text/plain': PlainUrlSchema },
    },
    errors: [400, 404, 408, 413, 415, 422, 503, 507],
    handle: async ({ req, res, caller, body }) => {
      const title = await aboutField('title', () => cleanImageTitle(body.title ?? ''));
      // Putting the image in an album changes the album: that needs the album scope too.
      if (body.album !== undefined) requireScope(caller, 'albums:write');
      const url = body.url?.trim() ?? '';
      if (req.file && url) throw new BadRequest(messages.fileAndUrl, 'file_and_url');
      if (!req.file && !url) throw new BadRequest(messages.nothing, 'no_file', 'file');
      const input = { ownerId: caller.user.id, visibility: body.visibility as Visibility, title, ...clientInfo(req), albumId: body.album };
      const { image, deleteKey } = req.file
        ? await uploadImage(deps.upload, { ...input, tempPath: req.file.path, originalName: req.file.originalname })
        : await uploadFromUrl(urlUploads, { ...input, url, keepSource: body.keep_source ?? false, signal: abortOnClientGone(res) });
      recordUploadBytes(res, image.size);
      res.status(201).set('Cache-Control', 'no-store');
      const answer = apiImage(publicUrl, image, secretUrls(publicUrl, image.id, deleteKey).deleteUrl);
      if (req.accepts(['application/json', 'text/plain']) === 'text/plain') res.type('text/plain').send(answer.url);
      else res.json(answer);
    },
  });

  api.keyed({
    method: 'get',
    path: '/images',
    operationId: 'listImages',
    tag: TAG,
    scope: 'images:read',
    summary: 'List your images',
    description: 'Newest first, one page at a time: pass the answer’s `next_cursor` as `cursor` for the next page.',
    query: ListImagesQuery,
    success: { status: 200, description: 'One page of images.', schema: ImageListSchema },
    errors: [400],
    handle: async ({ res, caller, query }) => {
      const after = query.cursor === undefined ? null : await cursors.open(query.cursor);
      const page = await listOwnerImages(deps.images, caller.user.id, { sort: 'newest', search: cleanTitle(query.q ?? ''), after, limit: query.limit });
      res.json({ data: page.images.map((image) => apiImage(publicUrl, image)), next_cursor: await cursors.seal(page.next) });
    },
  });

  api.keyed({
    method: 'get',
    path: '/images/{id}',
    operationId: 'getImage',
    tag: TAG,
    scope: 'images:read',
    summary: 'Get one of your images',
    params: ImageParams,
    success: { status: 200, description: 'The image (`delete_url` is null: the delete key is shown only at upload).', schema: ImageSchema },
    errors: [404],
    handle: async ({ res, caller, params }) => {
      res.json(apiImage(publicUrl, await ownImage(deps.images, caller.user.id, params.id)));
    },
  });

  api.keyed({
    method: 'patch',
    path: '/images/{id}',
    operationId: 'updateImage',
    tag: TAG,
    scope: 'images:write',
    summary: 'Change an image’s title or visibility',
    params: ImageParams,
    body: { kind: 'json', schema: PatchImageBody },
    success: { status: 200, description: 'The image as it is now.', schema: ImageSchema },
    errors: [400, 404, 413, 415],
    handle: async ({ res, caller, params, body }) => {
      const changes = {
        ...(body.title !== undefined ? { title: await aboutField('title', () => cleanImageTitle(body.title ?? '')) } : {}),
        ...(body.visibility !== undefined ? { visibility: body.visibility as Visibility } : {}),
      };
      await editImage(deps.images, caller.user.id, params.id, changes);
      res.json(apiImage(publicUrl, await ownImage(deps.images, caller.user.id, params.id)));
    },
  });

  api.keyed({
    method: 'delete',
    path: '/images/{id}',
    operationId: 'deleteImage',
    tag: TAG,
    scope: 'images:delete',
    summary: 'Delete one of your images',
    description: 'The image stops being served at once and its bytes go back to your quota.',
    params: ImageParams,
    success: { status: 204, description: 'Deleted.' },
    errors: [404],
    handle: async ({ req, res, caller, params }) => {
      if ((await deleteOwnedImages(deps.images, caller.user.id, [params.id], clientInfo(req))) === 0) throw new NotFound();
      res.status(204).end();
    },
  });
}
