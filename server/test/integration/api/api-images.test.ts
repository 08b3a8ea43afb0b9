import { expect } from 'chai';
import { createRepos } from '../../../db/repos.js';
import { fixtures } from '../../fixtures/images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { expectNothingLeft, until } from '../../helpers/assertions.js';
import { multipart, rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { apiUpload, expectProblem, rawProblem, sendBody } from './api-helpers.js';

describe('API v1: images', () => {
  let app: TestApp;
  let user: TestUser;
  let key: string;
  beforeEach(async () => {
    app = await startTestApp();
    user = await signedInUser(app);
    ({ key } = await apiKeyFor(app, user));
  });
  afterEach(async () => app.close());

  describe('POST /api/v1/images', () => {
    it('uploads through the same pipeline as the web page and answers 201 with the image', async () => {
      const res = await apiUpload(app, key, await fixtures.jpegWithGps(), { title: '  Holiday\tbeach ', visibility: 'public' });
      expect(res.status, res.text).to.equal(201);
      const image = res.json;
      expect(image).to.include({ width: 640, height: 480, mime: 'image/jpeg', visibility: 'public', title: 'Holiday beach', expires_at: null });
      expect(image.id).to.match(/^[0-9A-Za-z]{12}$/);
      const base = app.config.publicUrl;
      expect(image).to.include({ page_url: `${base}/i/${image.id}`, url: `${base}/i/${image.id}.jpg`, thumbnail_url: `${base}/t/${image.id}.webp` });
      expect(image.delete_url).to.match(new RegExp(`^${base}/delete/${image.id}/[A-Za-z0-9_-]+$`));
      expect(image.size).to.be.a('number').and.greaterThan(0);
      expect(image.created_at).to.match(/Z$/);
      expect(res.headers.get('set-cookie'), 'no delete-key cookie for the API').to.equal(null);
      // Metadata was stripped; the owner's quota pays; the security log has the upload with the account.
      const served = await rawRequest(image.url);
      expect(served.status).to.equal(200);
      expect(served.body.toString('latin1')).not.to.include('PixbinTestCam');
      const row = await app.db('users').where({ id: user.id }).first();
      expect(Number(row.used_bytes)).to.be.greaterThan(image.size);
      expect(await app.db('security_log').where({ event: 'image.upload', user_id: user.id })).to.have.length(1);
      // The delete page (what ShareX opens) is a page with a confirm button.
      const page = await rawRequest(image.delete_url, { headers: { Accept: 'text/html' } });
      expect(page.status).to.equal(200);
      expect(page.body.toString()).to.match(/<form[^>]+method="post"/i);
    });

    it('defaults to unlisted and no title, like the web', async () => {
      const res = await apiUpload(app, key, await fixtures.png());
      expect(res.status).to.equal(201);
      expect(res.json).to.include({ visibility: 'unlisted', title: null, mime: 'image/png' });
    });

    it('answers just the direct URL with Accept: text/plain', async () => {
      const res = await apiUpload(app, key, await fixtures.png(), {}, { Accept: 'text/plain' });
      expect(res.status).to.equal(201);
      expect(res.headers.get('content-type')).to.match(/^text\/plain/);
      expect(res.text).to.match(new RegExp(`^${app.config.publicUrl}/i/[0-9A-Za-z]{12}\\.png$`));
      expect((await rawRequest(res.text)).status).to.equal(200);
    });

    it('adds the image to one of the caller’s albums in the same step', async () => {
      const album = (await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'Screenshots' } })).json;
      const res = await apiUpload(app, key, await fixtures.png(), { album: album.id });
      expect(res.status).to.equal(201);
      const detail = (await api(app, 'GET', `/api/v1/albums/${album.id}`, { key })).json;
      expect(detail.image_count).to.equal(1);
      expect(detail.images.map((i: { id: string }) => i.id)).to.deep.equal([res.json.id]);
    });

    it('refuses another account’s album (404) and a malformed album id (400), before processing, leaving nothing', async () => {
      const other = await signedInUser(app);
      const otherKey = (await apiKeyFor(app, other)).key;
      const theirs = (await api(app, 'POST', '/api/v1/albums', { key: otherKey, json: { title: 'Theirs' } })).json;
      for (const album of [theirs.id, 'A'.repeat(16)]) {
        expectProblem(await apiUpload(app, key, await fixtures.png(), { album }), 404, 'not_found', app);
      }
      expect(expectProblem(await apiUpload(app, key, await fixtures.png(), { album: 'nope' }), 400, 'invalid_field', app).field).to.equal('album');
      await expectNothingLeft(app);
      expect(await app.db('album_images')).to.deep.equal([]);
    });

    it('names the field for unknown fields, a bad visibility and a too-long title, leaving nothing', async () => {
      const png = await fixtures.png();
      const cases: Array<[Record<string, string>, string, string]> = [
        [{ expires: '1h' }, 'unknown_field', 'expires'],
        [{ visibility: 'secret' }, 'invalid_field', 'visibility'],
        [{ title: 'é'.repeat(201) }, 'title_too_long', 'title'],
      ];
      for (const [fields, code, field] of cases) {
        const body = expectProblem(await apiUpload(app, key, png, fields), 400, code, app);
        expect(body.field).to.equal(field);
      }
      await expectNothingLeft(app);
    });

    it('maps every broken upload to its 4xx problem and leaves no temp file, bytes or rows', async () => {
      expectProblem(await apiUpload(app, key, fixtures.htmlAsPng()), 415, 'unsupported_type', app);
      expectProblem(await apiUpload(app, key, await fixtures.truncatedJpeg()), 422, 'corrupt_image', app);
      const noFile = multipart([{ name: 'title', value: 'x' }]);
      expectProblem(await rawProblem(app, key, noFile), 400, 'no_file', app);
      const twoFiles = multipart([{ name: 'file', value: await fixtures.png(), filename: 'a.png' }, { name: 'other', value: await fixtures.png(), filename: 'b.png' }]);
      expectProblem(await rawProblem(app, key, twoFiles), 400, 'one_file_only', app);
      expectProblem(await rawProblem(app, key, { body: Buffer.from('garbage'), contentType: 'multipart/form-data; boundary=zzz' }), 400, 'malformed_upload', app);
      await expectNothingLeft(app);
    });

    it('refuses a file over MAX_UPLOAD_BYTES with 413, leaving nothing', async () => {
      await app.close();
      app = await startTestApp({ MAX_UPLOAD_BYTES: '2048' });
      user = await signedInUser(app);
      ({ key } = await apiKeyFor(app, user));
      const res = await apiUpload(app, key, await fixtures.png(640, 480));
      expectProblem(res, 413, 'file_too_large', app);
      expect(res.headers.get('ratelimit-remaining')).to.match(/^\d+$/);
      await expectNothingLeft(app);
    });

    it('keeps to the quota (413) and to upload bans (403), as the web does', async () => {
      await app.db('users').where({ id: user.id }).update({ quota_bytes: 1000 });
      expectProblem(await apiUpload(app, key, await fixtures.png()), 413, 'quota_exceeded', app);
      await app.db('users').where({ id: user.id }).update({ quota_bytes: null });
      const now = new Date();
      await createRepos(app.db).ipBans.insert({ id: 'ban1', cidr: '127.0.0.1/32', reason: 'spam', createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000), createdBy: null });
      expectProblem(await apiUpload(app, key, await fixtures.png()), 403, 'upload_banned', app);
      await expectNothingLeft(app);
    });
  });

  describe('listing, reading, changing and deleting', () => {
    async function three(): Promise<string[]> {
      const ids: string[] = [];
      for (const title of ['Alpha cat', 'Beta dog', 'Gamma cat']) ids.push((await apiUpload(app, key, await fixtures.png(40 + ids.length, 30), { title })).json.id);
      return ids;
    }

    it('lists newest first with keyset pages, a search, and a next_cursor that ends', async () => {
      const [a, b, c] = await three();
      const first = await api(app, 'GET', '/api/v1/images?limit=2', { key });
      expect(first.status).to.equal(200);
      expect(first.json.data.map((i: { id: string }) => i.id)).to.deep.equal([c, b]);
      expect(first.json.data[0].delete_url).to.equal(null);
      const second = await api(app, 'GET', `/api/v1/images?limit=2&cursor=${first.json.next_cursor}`, { key });
      expect(second.json.data.map((i: { id: string }) => i.id)).to.deep.equal([a]);
      expect(second.json.next_cursor).to.equal(null);
      const cats = await api(app, 'GET', '/api/v1/images?q=CAT', { key });
      expect(cats.json.data.map((i: { id: string }) => i.id)).to.deep.equal([c, a]);
      expect((await api(app, 'GET', '/api/v1/images', { key })).json.data).to.have.length(3);
    });

    it('refuses a tampered cursor and out-of-range or unknown query parameters, naming them', async () => {
      const cases: Array<[string, string, string]> = [
        ['cursor=bm90LWEtY3Vyc29y', 'bad_cursor', 'cursor'],
        ['cursor=%00%01', 'bad_cursor', 'cursor'],
        ['limit=0', 'invalid_field', 'limit'],
        ['limit=101', 'invalid_field', 'limit'],
        ['limit=ten', 'invalid_field', 'limit'],
        ['limit=1&limit=2', 'invalid_field', 'limit'],
        ['sort=oldest', 'unknown_field', 'sort'],
      ];
      for (const [query, code, field] of cases) {
        const body = expectProblem(await api(app, 'GET', `/api/v1/images?${query}`, { key }), 400, code, app);
        expect(body.field, query).to.equal(field);
      }
    });

    it('reads one image, changes title and visibility, and refuses bad bodies with the right status', async () => {
      const [id] = await three();
      const got = await api(app, 'GET', `/api/v1/images/${id}`, { key });
      expect(got.json).to.include({ id, title: 'Alpha cat', delete_url: null, expires_at: null, visibility: 'unlisted' });
      const changed = await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: 'Renamed', visibility: 'public' } });
      expect(changed.status).to.equal(200);
      expect(changed.json).to.include({ title: 'Renamed', visibility: 'public' });
      expect((await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: null } })).json.title).to.equal(null);
      expect((await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { visibility: 'private' } })).json).to.include({ visibility: 'private', title: null });

      expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: {} }), 400, 'bad_request', app);
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: 'x', owner_id: 'me' } }), 400, 'unknown_field', app).field).to.equal('owner_id');
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { visibility: 'everyone' } }), 400, 'invalid_field', app).field).to.equal('visibility');
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: 7 } }), 400, 'invalid_field', app).field).to.equal('title');
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: 'é'.repeat(201) } }), 400, 'title_too_long', app).field).to.equal('title');
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: ['title'] }), 400, 'bad_request', app).field).to.equal('body');
      const fetchRaw = (body: string, type: string) => sendBody(app, key, 'PATCH', `/api/v1/images/${id}`, body, type);
      expectProblem(await fetchRaw('{"title": "x"', 'application/json'), 400, 'malformed_json', app);
      expectProblem(await fetchRaw('"title"', 'application/json'), 400, 'malformed_json', app);
      expectProblem(await fetchRaw('title=x', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type', app);
      expectProblem(await fetchRaw('{"title":"x"}', 'text/plain'), 415, 'unsupported_media_type', app);
      expectProblem(await fetchRaw(JSON.stringify({ title: 'x'.repeat(17 * 1024) }), 'application/json'), 413, 'json_too_large', app);
      expect((await api(app, 'GET', `/api/v1/images/${id}`, { key })).json).to.include({ title: null, visibility: 'private' });
    });

    it('deletes an image (204): it stops being served, moves to recovery and frees the quota', async () => {
      const [id] = await three();
      const before = Number((await app.db('users').where({ id: user.id }).first()).used_bytes);
      const url = (await api(app, 'GET', `/api/v1/images/${id}`, { key })).json.url;
      const res = await api(app, 'DELETE', `/api/v1/images/${id}`, { key });
      expect(res.status).to.equal(204);
      expect(res.text).to.equal('');
      expect((await rawRequest(url)).status).to.equal(404);
      expect(Number((await app.db('users').where({ id: user.id }).first()).used_bytes)).to.be.lessThan(before);
      expect((await app.recoveryKeys()).some((k) => k.includes(id!))).to.equal(true);
      expectProblem(await api(app, 'DELETE', `/api/v1/images/${id}`, { key }), 404, 'not_found', app);
      expectProblem(await api(app, 'GET', `/api/v1/images/${id}`, { key }), 404, 'not_found', app);
    });

    it('another account’s image is a 404 on every verb, exactly like a missing one, and nothing changes', async () => {
      const [id] = await three();
      const other = await signedInUser(app);
      const otherKey = (await apiKeyFor(app, other)).key;
      const missing = 'Z'.repeat(12);
      for (const [method, json] of [['GET'], ['PATCH', { title: 'Stolen' }], ['DELETE']] as const) {
        const theirs = await api(app, method, `/api/v1/images/${id}`, { key: otherKey, json });
        const none = await api(app, method, `/api/v1/images/${missing}`, { key: otherKey, json });
        expectProblem(theirs, 404, 'not_found', app);
        expect({ ...theirs.json, request_id: null }).to.deep.equal({ ...none.json, request_id: null });
      }
      expect((await api(app, 'GET', '/api/v1/images', { key: otherKey })).json.data).to.deep.equal([]);
      expect((await api(app, 'GET', `/api/v1/images/${id}`, { key })).json).to.include({ title: 'Alpha cat' });
      expect(await app.db('images').count({ n: '*' }).first()).to.satisfy((r: { n: number | string }) => Number(r.n) === 3);
    });
  });

  it('writes one request-log row per call, with the route pattern and never the raw id', async () => {
    const { key: logged, keyId } = await apiKeyFor(app, user);
    const upload = await apiUpload(app, logged, await fixtures.png());
    const id = upload.json.id as string;
    await api(app, 'GET', `/api/v1/images/${id}`, { key: logged });
    await api(app, 'GET', `/api/v1/nowhere/${id}`, { key: logged });
    await api(app, 'GET', `/api/v1/images/${id}`, { headers: { Authorization: 'Bearer wrong' } });
    await api(app, 'GET', '/api/v1/openapi.json');
    await until(async () => (await app.db('api_requests').where({ key_id: keyId })).length === 3 && (await app.db('api_requests').whereNull('key_id')).length === 1, 'log rows');
    // Rows are written as answers end, so their order in the table is not asserted.
    const rows = await app.db('api_requests');
    expect(rows.map((r) => [r.method, r.route, Number(r.status), r.key_id, r.user_id])).to.have.deep.members([
      ['POST', '/api/v1/images', 201, keyId, user.id],
      ['GET', '/api/v1/images/{id}', 200, keyId, user.id],
      ['GET', '(unmatched)', 404, keyId, user.id],
      ['GET', '/api/v1/images/{id}', 401, null, null],
    ]);
    const byStatus = (status: number) => rows.find((r) => Number(r.status) === status)!;
    expect(Number(byStatus(201).upload_bytes)).to.equal(upload.json.size);
    expect([200, 404, 401].map((s) => Number(byStatus(s).upload_bytes))).to.deep.equal([0, 0, 0]);
    expect(rows.every((r) => r.ip === '127.0.0.1' || r.ip === '::ffff:127.0.0.1')).to.equal(true);
    expect(rows.every((r) => Number(r.duration_ms) >= 0)).to.equal(true);
    expect(JSON.stringify(rows)).not.to.include(id);
    expect(await app.db('security_log').where({ event: 'api.request' })).to.deep.equal([]);
  });
});
