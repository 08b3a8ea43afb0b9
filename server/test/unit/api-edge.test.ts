import { expect } from 'chai';
import type { Request } from 'express';
import { AppError, BadRequest, NotFound } from '../../errors.js';
import { toPublicError } from '../../http/errors.js';
import { createApiSurface } from '../../http/api/endpoint.js';
import { refuseKeyInQuery } from '../../http/api/key-auth.middleware.js';
import { ERROR_CODES, problemBody } from '../../http/api/problem.js';
import { AlbumBody, ListImagesQuery, PatchImageBody, UploadFields } from '../../http/api/schemas.js';
import { aboutField, parseBody, parseParams, parseQuery } from '../../http/api/validation.js';
import { ImageParams } from '../../http/api/schemas.js';

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('the API edge', () => {
  describe('validation', () => {
    it('names the unknown, missing or invalid field in a 400', () => {
      expect(refusal(() => parseBody(AlbumBody, { title: 'x', owner: 'y' }))).to.include({ code: 'unknown_field', field: 'owner' });
      expect(refusal(() => parseBody(AlbumBody, {}))).to.include({ code: 'missing_field', field: 'title' });
      expect(refusal(() => parseBody(AlbumBody, { title: 3 }))).to.include({ code: 'invalid_field', field: 'title' });
      expect(refusal(() => parseBody(AlbumBody, ['title']))).to.include({ code: 'bad_request', field: 'body' });
      expect(refusal(() => parseBody(AlbumBody, undefined))).to.include({ code: 'bad_request', field: 'body' });
      expect(refusal(() => parseBody(PatchImageBody, {})).code).to.equal('bad_request');
      expect(refusal(() => parseQuery(ListImagesQuery, { limit: '1e9' }))).to.include({ code: 'invalid_field', field: 'limit' });
      expect(refusal(() => parseQuery(ListImagesQuery, { limit: ['1', '2'] }))).to.include({ code: 'invalid_field', field: 'limit' });
    });

    it('reads multer’s prototype-less body and fills the defaults', () => {
      const body = Object.assign(Object.create(null) as object, { title: 'T' });
      expect(parseBody(UploadFields, body)).to.deep.equal({ title: 'T', visibility: 'unlisted' });
      expect(parseQuery(ListImagesQuery, {})).to.deep.equal({ limit: 50 });
    });

    it('answers a malformed path id with 404, as for a missing one', () => {
      expect(refusal(() => parseParams(ImageParams, { id: '../etc' }))).to.be.instanceOf(NotFound);
      expect(parseParams(ImageParams, { id: 'aB3dE5fG7hJ9' })).to.deep.equal({ id: 'aB3dE5fG7hJ9' });
    });

    it('names a field on a service 400 that did not say which', async () => {
      const err = await aboutField('title', () => {
        throw new BadRequest('too long', 'title_too_long');
      }).catch((e: AppError) => e);
      expect(err).to.include({ code: 'title_too_long', field: 'title' });
    });
  });

  describe('the route pattern the request log records', () => {
    const api = createApiSurface();
    for (const path of ['/images', '/images/{id}', '/albums/{id}/images/{image_id}']) {
      api.keyed({ method: 'get', path, operationId: path, tag: 't', summary: 's', scope: 'images:read', success: { status: 200, description: 'ok' }, handle: () => undefined });
    }

    it('is the documented pattern, never the raw path; (unmatched) otherwise', () => {
      expect(api.routeOf('GET', '/api/v1/images?limit=2')).to.equal('/api/v1/images');
      expect(api.routeOf('GET', '/api/v1/images/aB3dE5fG7hJ9')).to.equal('/api/v1/images/{id}');
      expect(api.routeOf('GET', '/API/V1/images/aB3dE5fG7hJ9/')).to.equal('/api/v1/images/{id}');
      expect(api.routeOf('GET', '/api/v1/albums/x/images/y')).to.equal('/api/v1/albums/{id}/images/{image_id}');
      expect(api.routeOf('POST', '/api/v1/images/aB3dE5fG7hJ9')).to.equal(null);
      expect(api.routeOf('GET', '/api/v1/images/a/b')).to.equal(null);
      expect(api.routeOf('GET', '/api/v2/images')).to.equal(null);
    });
  });

  describe('problem details', () => {
    it('link the code to the reference, name the scope, and keep unknown errors generic', () => {
      const scope = new AppError('forbidden', 'insufficient_scope', 'This key lacks "albums:write".');
      scope.field = 'albums:write';
      expect(problemBody('https://p.example', toPublicError(scope), 'r1')).to.deep.equal({
        type: 'https://p.example/api/docs#error-insufficient_scope',
        title: 'Forbidden',
        status: 403,
        detail: 'This key lacks "albums:write".',
        code: 'insufficient_scope',
        field: 'albums:write',
        required_scope: 'albums:write',
        request_id: 'r1',
      });
      const internal = problemBody('https://p.example', toPublicError(new Error('relation "images" does not exist')), '');
      expect(internal).to.include({ status: 500, code: 'internal_error', title: 'Internal Server Error' });
      expect(JSON.stringify(internal)).not.to.include('relation');
    });

    it('lists each code once', () => {
      const codes = ERROR_CODES.map((e) => e.code);
      expect(new Set(codes).size).to.equal(codes.length);
    });
  });

  describe('keys in the query string', () => {
    const run = (originalUrl: string) => refusal(() => refuseKeyInQuery({ originalUrl } as Request, {} as never, () => undefined));
    it('are refused wherever they sit, encoded or not', () => {
      const key = `pxb_${'a'.repeat(16)}_${'b'.repeat(43)}`;
      expect(run(`/api/v1/me?key=${key}`)).to.include({ code: 'api_key_in_query', field: 'key' });
      expect(run(`/api/v1/me?a=1&t=${encodeURIComponent(key)}`)).to.include({ field: 't' });
      expect(run(`/api/v1/me?${key}`)).to.include({ field: 'query' });
      expect(run(`/api/v1/me?x=pxb%5F${'a'.repeat(16)}%5F`)).to.include({ field: 'x' });
      let passed = false;
      refuseKeyInQuery({ originalUrl: '/api/v1/images?q=pxb_short_' } as Request, {} as never, () => (passed = true));
      expect(passed).to.equal(true);
    });
  });
});
