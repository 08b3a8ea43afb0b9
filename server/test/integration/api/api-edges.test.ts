import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { signedInUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { expectNothingLeft, until } from '../../helpers/assertions.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { testDatabase } from '../../helpers/test-db.js';
import { apiUpload, expectProblem, sendBody } from './api-helpers.js';

describe('API v1: the edges a hostile or careless client finds', function () {
  this.timeout(60_000);
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(async () => app.close());

  it('putting an upload in an album needs albums:write as well, and a malformed album id is a 400 naming it', async () => {
    const user = await signedInUser(app);
    const full = await apiKeyFor(app, user);
    const album = await api(app, 'POST', '/api/v1/albums', { key: full.key, json: { title: 'Shots' } });
    expect(album.status).to.equal(201);
    const { key } = await apiKeyFor(app, user, ['images:write']);
    const refused = await apiUpload(app, key, await fixtures.png(), { album: album.json.id });
    const body = expectProblem(refused, 403, 'insufficient_scope', app);
    expect(body.field).to.equal('albums:write');
    const malformed = await apiUpload(app, full.key, await fixtures.png(), { album: 'not-an-album' });
    expect(expectProblem(malformed, 400, 'invalid_field', app).field).to.equal('album');
    await expectNothingLeft(app);
    const ok = await apiUpload(app, full.key, await fixtures.png(), { album: album.json.id });
    expect(ok.status, ok.text).to.equal(201);
    const inAlbum = await api(app, 'GET', `/api/v1/albums/${album.json.id}`, { key: full.key });
    expect(inAlbum.json.images.map((i: { id: string }) => i.id)).to.deep.equal([ok.json.id]);
  });

  it('an upload that is neither multipart nor JSON is a 415, whatever it claims to be; JSON cannot carry a file', async () => {
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['images:write']);
    for (const [type, bytes] of [['text/plain', Buffer.from('hello')], ['image/png', await fixtures.png()]] as const) {
      expectProblem(await sendBody(app, key, 'POST', '/api/v1/images', bytes, type), 415, 'unsupported_media_type', app);
    }
    const json = await sendBody(app, key, 'POST', '/api/v1/images', Buffer.from('{"file":"x"}'), 'application/json');
    expect(expectProblem(json, 400, 'unknown_field', app).field).to.equal('file');
    await expectNothingLeft(app);
  });

  it('JSON that is not valid UTF-8 is refused, not stored with replacement characters', async () => {
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['albums:write']);
    const body = Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await sendBody(app, key, 'POST', '/api/v1/albums', body, 'application/json');
    expect(expectProblem(res, 400, 'invalid_utf8', app).field).to.equal('body');
    expect(await app.db('albums').where({ owner_id: user.id })).to.have.length(0);
  });

  it('a cursor that was edited, cut or made up is a 400 naming it; the sealed one pages on', async () => {
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['images:write', 'images:read']);
    for (let i = 0; i < 3; i += 1) expect((await apiUpload(app, key, await fixtures.png())).status).to.equal(201);
    const first = await api(app, 'GET', '/api/v1/images?limit=1', { key });
    const cursor: string = first.json.next_cursor;
    expect(cursor).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    const [position] = cursor.split('.');
    // A forged position in the right format: the id of the last row, a millisecond later.
    const decoded = Buffer.from(position!, 'base64url').toString('utf8');
    const [ms, id] = decoded.split('.');
    const forged = Buffer.from(`${Number(ms) + 1}.${id}`).toString('base64url');
    for (const bad of [position!, `${forged}.${cursor.split('.')[1]}`, cursor.slice(0, -1), `${cursor}A`, `.${cursor.split('.')[1]}`]) {
      const res = await api(app, 'GET', `/api/v1/images?limit=1&cursor=${encodeURIComponent(bad)}`, { key });
      expect(expectProblem(res, 400, 'bad_cursor', app).field, bad).to.equal('cursor');
    }
    const second = await api(app, 'GET', `/api/v1/images?limit=1&cursor=${encodeURIComponent(cursor)}`, { key });
    expect(second.status).to.equal(200);
    expect(second.json.data[0].id).not.to.equal(first.json.data[0].id);
  });

  it('numbers in the query are plain decimal digits: hex, exponents and signs are refused', async () => {
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['images:read']);
    for (const limit of ['0x10', '1e1', '+5', '5.0', ' 5', '0', '101']) {
      const res = await api(app, 'GET', `/api/v1/images?limit=${encodeURIComponent(limit)}`, { key });
      expect(expectProblem(res, 400, 'invalid_field', app).field, limit).to.equal('limit');
    }
    expect((await api(app, 'GET', '/api/v1/images?limit=100', { key })).status).to.equal(200);
  });

  it('an empty change names the body; HEAD is logged under its GET route pattern', async () => {
    const user = await signedInUser(app);
    const { key, keyId } = await apiKeyFor(app, user);
    const up = await apiUpload(app, key, await fixtures.png());
    const empty = await api(app, 'PATCH', `/api/v1/images/${up.json.id}`, { key, json: {} });
    expect(expectProblem(empty, 400, 'bad_request', app).field).to.equal('body');
    const head = await fetch(`${app.url}/api/v1/images/${up.json.id}`, { method: 'HEAD', headers: { Authorization: `Bearer ${key}` } });
    expect(head.status).to.equal(200);
    await until(async () => (await app.db('api_requests').where({ key_id: keyId, method: 'HEAD' })).length === 1, 'the HEAD row');
    const [row] = await app.db('api_requests').where({ key_id: keyId, method: 'HEAD' });
    expect(row.route).to.equal('/api/v1/images/{id}');
  });

  it('database errors carry placeholders, never the values (an IP address would reach the log)', async () => {
    const err = await testDatabase()
      .db('api_requests')
      .insert({ ip: '203.0.113.77', no_such_column: 1 })
      .catch((e: unknown) => e as Error);
    expect(err).to.be.instanceOf(Error);
    expect(String((err as Error).message)).not.to.include('203.0.113.77');
  });
});
