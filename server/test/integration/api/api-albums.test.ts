import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { apiUpload, expectProblem } from './api-helpers.js';

describe('API v1: albums', () => {
  let app: TestApp;
  let user: TestUser;
  let key: string;
  beforeEach(async () => {
    app = await startTestApp();
    user = await signedInUser(app);
    ({ key } = await apiKeyFor(app, user));
  });
  afterEach(async () => app.close());

  const upload = async (k = key) => (await apiUpload(app, k, await fixtures.png(48, 32))).json.id as string;

  it('creates, lists, reads, renames and deletes an album', async () => {
    const created = await api(app, 'POST', '/api/v1/albums', { key, json: { title: '  Trip\n2026 ' } });
    expect(created.status).to.equal(201);
    const album = created.json;
    expect(album).to.include({ title: 'Trip 2026', image_count: 0, cover_image_id: null, url: `${app.config.publicUrl}/a/${album.id}` });
    expect(album.id).to.match(/^[0-9A-Za-z]{16}$/);
    expect(album.created_at).to.match(/Z$/);
    expect((await api(app, 'GET', album.url.replace(app.config.publicUrl, ''), {})).status, 'the share page opens').to.equal(200);

    const list = await api(app, 'GET', '/api/v1/albums', { key });
    expect(list.json.data).to.deep.equal([album]);
    const renamed = await api(app, 'PATCH', `/api/v1/albums/${album.id}`, { key, json: { title: 'Renamed' } });
    expect(renamed.status).to.equal(200);
    expect(renamed.json).to.include({ id: album.id, title: 'Renamed', image_count: 0 });
    const got = await api(app, 'GET', `/api/v1/albums/${album.id}`, { key });
    expect(got.json).to.include({ title: 'Renamed', next_offset: null });
    expect(got.json.images).to.deep.equal([]);

    expect((await api(app, 'DELETE', `/api/v1/albums/${album.id}`, { key })).status).to.equal(204);
    expectProblem(await api(app, 'GET', `/api/v1/albums/${album.id}`, { key }), 404, 'not_found', app);
    expectProblem(await api(app, 'DELETE', `/api/v1/albums/${album.id}`, { key }), 404, 'not_found', app);
    expect((await api(app, 'GET', '/api/v1/albums', { key })).json.data).to.deep.equal([]);
  });

  it('refuses bad titles and bodies, naming the field', async () => {
    expect(expectProblem(await api(app, 'POST', '/api/v1/albums', { key, json: { title: '   ' } }), 400, 'title_required', app).field).to.equal('title');
    expect(expectProblem(await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'x'.repeat(201) } }), 400, 'title_too_long', app).field).to.equal('title');
    expect(expectProblem(await api(app, 'POST', '/api/v1/albums', { key, json: {} }), 400, 'missing_field', app).field).to.equal('title');
    expect(expectProblem(await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'x', cover: 'y' } }), 400, 'unknown_field', app).field).to.equal('cover');
    expectProblem(await api(app, 'POST', '/api/v1/albums', { key }), 400, 'bad_request', app);
    expect(await app.db('albums')).to.deep.equal([]);
  });

  it('puts images in and takes them out, idempotently, with pages of images', async () => {
    const album = (await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'A' } })).json;
    const ids = [await upload(), await upload(), await upload()];
    for (const id of [...ids, ids[0]]) expect((await api(app, 'PUT', `/api/v1/albums/${album.id}/images/${id}`, { key })).status).to.equal(204);
    const page1 = (await api(app, 'GET', `/api/v1/albums/${album.id}?limit=2`, { key })).json;
    expect(page1.image_count).to.equal(3);
    expect(page1.images.map((i: { id: string }) => i.id)).to.deep.equal([ids[2], ids[1]]);
    expect(page1.images[0]).to.have.keys(['id', 'page_url', 'url', 'thumbnail_url', 'width', 'height', 'mime', 'visibility', 'created_at']);
    expect(page1.next_offset).to.equal(2);
    const page2 = (await api(app, 'GET', `/api/v1/albums/${album.id}?limit=2&offset=2`, { key })).json;
    expect(page2.images.map((i: { id: string }) => i.id)).to.deep.equal([ids[0]]);
    expect(page2.next_offset).to.equal(null);
    expect(expectProblem(await api(app, 'GET', `/api/v1/albums/${album.id}?offset=-1`, { key }), 400, 'invalid_field', app).field).to.equal('offset');

    for (let i = 0; i < 2; i += 1) expect((await api(app, 'DELETE', `/api/v1/albums/${album.id}/images/${ids[1]}`, { key })).status).to.equal(204);
    expect((await api(app, 'GET', '/api/v1/albums', { key })).json.data[0].image_count).to.equal(2);
    expect(await app.db('images').count({ n: '*' }).first()).to.satisfy((r: { n: number | string }) => Number(r.n) === 3, 'the images stay');
  });

  it('another account’s album or image is a 404 on every verb, and nothing changes', async () => {
    const mine = (await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'Mine' } })).json;
    const myImage = await upload();
    await api(app, 'PUT', `/api/v1/albums/${mine.id}/images/${myImage}`, { key });
    const other = await signedInUser(app);
    const otherKey = (await apiKeyFor(app, other)).key;
    const theirAlbum = (await api(app, 'POST', '/api/v1/albums', { key: otherKey, json: { title: 'Theirs' } })).json;
    const theirImage = await upload(otherKey);

    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/albums/${mine.id}`],
      ['PATCH', `/api/v1/albums/${mine.id}`, { title: 'Stolen' }],
      ['DELETE', `/api/v1/albums/${mine.id}`],
      ['PUT', `/api/v1/albums/${mine.id}/images/${theirImage}`],
      ['DELETE', `/api/v1/albums/${mine.id}/images/${myImage}`],
      // Their own album with my image, and with their image in someone else's album id.
      ['PUT', `/api/v1/albums/${theirAlbum.id}/images/${myImage}`],
      ['DELETE', `/api/v1/albums/${theirAlbum.id}/images/${myImage}`],
      ['GET', '/api/v1/albums/not-an-album'],
    ];
    for (const [method, path, json] of attempts) expectProblem(await api(app, method, path, { key: otherKey, json }), 404, 'not_found', app);

    const after = (await api(app, 'GET', `/api/v1/albums/${mine.id}`, { key })).json;
    expect(after).to.include({ title: 'Mine', image_count: 1 });
    expect((await api(app, 'GET', `/api/v1/albums/${theirAlbum.id}`, { key: otherKey })).json.image_count).to.equal(0);
    expect((await api(app, 'GET', '/api/v1/albums', { key: otherKey })).json.data.map((a: { id: string }) => a.id)).to.deep.equal([theirAlbum.id]);
  });
});
