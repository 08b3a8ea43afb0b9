import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { expectConsistentUsage, fakeImage, insertFakeImages, ownerPost, ownerPostJson, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

describe('accounts: rename, visibility and delete in My images', () => {
  let app: TestApp;
  let alice: TestUser;
  let png: Buffer;
  before(async () => {
    png = await fixtures.png();
  });
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
  });
  afterEach(() => app.close());

  const upload = async (user: TestUser = alice): Promise<string> => {
    const res = await ownerUpload(user, png, { filename: 'original.png' });
    expect(res.status, res.body.toString()).to.equal(201);
    return res.json().id as string;
  };
  const row = async (id: string) => app.db('images').where({ id }).first();

  it('renames: trimmed, controls and bidi overrides stripped, at most 200 characters, empty falls back to the file name', async () => {
    const id = await upload();
    const rename = (title: string) => ownerPost(alice, `/account/images/${id}/title`, { title }, { json: true });

    expect((await rename('  Sunset\u202Egnp.exe \u0000over\tthe   bay  ')).json()).to.deep.equal({ id, title: 'Sunsetgnp.exe over the bay' });
    expect((await row(id)).title).to.equal('Sunsetgnp.exe over the bay');
    const share = (await alice.client.get(`/i/${id}`)).body.toString();
    expect(share).to.include('<h1 id="share-heading" class="share-title">Sunsetgnp.exe over the bay</h1>');

    expect((await rename('é'.repeat(200))).status).to.equal(200);
    expect(expectJsonError(await rename('é'.repeat(201)), 400, 'title_too_long')).to.match(/200 characters/);
    expect((await row(id)).title).to.equal('é'.repeat(200));

    expect((await rename('  \u200F ')).json().title).to.equal(null);
    expect((await row(id)).title).to.equal(null);
    expect((await alice.client.get(`/i/${id}`)).body.toString()).to.include('class="share-title">original.png</h1>');
  });

  it('sends a browser back to the page it came from with a notice, and escapes titles in the list', async () => {
    const id = await upload();
    const res = await ownerPost(alice, `/account/images/${id}/title`, { title: '<script>alert(1)</script>', back: '/account/images?q=script&sort=oldest' });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/account/images?q=script&sort=oldest&done=renamed');
    const html = (await alice.client.get(res.headers.location as string)).body.toString();
    expect(html).to.include('Title saved.').and.include('&lt;script&gt;alert(1)&lt;/script&gt;').and.not.include('<script>alert(1)');

    for (const back of ['https://evil.example/', '//evil.example/account/images', '/account/imagesX', '/account/images/../../x', '/account/images?x=<b>']) {
      const bounced = await ownerPost(alice, `/account/images/${id}/title`, { title: 'x', back });
      expect(bounced.headers.location, back).to.equal('/account/images?done=renamed');
    }
  });

  it('changes visibility to public, unlisted or private, and refuses anything else with 400', async () => {
    const id = await upload();
    for (const visibility of ['public', 'private', 'unlisted'] as const) {
      expect((await ownerPost(alice, `/account/images/${id}/visibility`, { visibility }, { json: true })).json()).to.deep.equal({ id, visibility });
      expect((await row(id)).visibility).to.equal(visibility);
    }
    for (const visibility of ['secret', 'PUBLIC', '', 'public ']) {
      expectJsonError(await ownerPost(alice, `/account/images/${id}/visibility`, { visibility }, { json: true }), 400, 'bad_visibility');
    }
    expectJsonError(await ownerPostJson(alice, `/account/images/${id}/visibility`, { visibility: ['public'] }), 400, 'bad_visibility');
    expect((await row(id)).visibility).to.equal('unlisted');
    const html = await ownerPost(alice, `/account/images/${id}/visibility`, { visibility: 'private' });
    expect(html.headers.location).to.equal('/account/images?done=private');
    expect((await alice.client.get('/account/images?done=private')).body.toString()).to.include('only you can see it');
  });

  it('deletes one image: the row, every stored variant and its share of the quota; a second delete is 404', async () => {
    const keep = await upload();
    const id = await upload();
    expect((await ownerPost(alice, `/account/images/${id}/delete`, {}, { json: true })).json()).to.deep.equal({ deleted: 1 });
    expect(await row(id)).to.equal(undefined);
    expect((await app.storedKeys()).filter((f) => f.includes(id))).to.deep.equal([]);
    expect((await rawRequest(`${app.url}/i/${id}.png`)).status).to.equal(404);
    await expectConsistentUsage(app, alice.id);
    expectJsonError(await ownerPost(alice, `/account/images/${id}/delete`, {}, { json: true }), 404, 'not_found');
    expectJsonError(await ownerPost(alice, '/account/images/not-an-id/delete', {}, { json: true }), 404, 'not_found');
    expect(await row(keep)).not.to.equal(undefined);
    const log = await app.db('security_log').where({ event: 'image.delete' }).first();
    expect(log.user_id).to.equal(alice.id);
    expect(JSON.parse(log.detail)).to.deep.equal({ imageIds: [id], by: 'owner' });
  });

  it('bulk-deletes the selected images from a form or JSON, ignoring ids that are not the user\'s own', async () => {
    const bob = await signedInUser(app);
    const mine = [await upload(), await upload(), await upload()];
    const his = await upload(bob);
    const form = await ownerPost(alice, '/account/images/delete', { ids: [mine[0]!, his, 'AAAAAAAAAAAA'], back: '/account/images' });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.equal('/account/images?done=deleted&n=1');
    expect((await alice.client.get(form.headers.location as string)).body.toString()).to.include('Deleted 1 image.');
    expect((await ownerPostJson(alice, '/account/images/delete', { ids: [mine[1], mine[2], mine[1]] })).json()).to.deep.equal({ deleted: 2 });
    expect(await app.db('images').pluck('id')).to.deep.equal([his]);
    expect(await app.storedKeys()).to.have.length(3);
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(0);
    await expectConsistentUsage(app, bob.id);
  });

  it('takes up to 500 ids in one urlencoded form (more fields than other forms may have), and refuses 501', async () => {
    const fakes = Array.from({ length: 500 }, () => fakeImage({ ownerId: alice.id }));
    await insertFakeImages(app, fakes);
    await app.db('users').where({ id: alice.id }).update({ used_bytes: 500 * 1100 });
    const extra = 'B'.repeat(12);
    expectJsonError(await ownerPost(alice, '/account/images/delete', { ids: [...fakes.map((f) => f.id), extra] }, { json: true }), 400, 'too_many');
    expect(await app.db('images')).to.have.length(500);
    const res = await ownerPost(alice, '/account/images/delete', { ids: fakes.map((f) => f.id) }, { json: true });
    expect(res.json()).to.deep.equal({ deleted: 500 });
    expect(Number((await app.db('users').where({ id: alice.id }).first()).used_bytes)).to.equal(0);
  });

  it('refuses an empty or malformed selection with 400', async () => {
    expectJsonError(await ownerPost(alice, '/account/images/delete', {}, { json: true }), 400, 'none_selected');
    expectJsonError(await ownerPost(alice, '/account/images/delete', { ids: '' }, { json: true }), 400, 'none_selected');
    expectJsonError(await ownerPost(alice, '/account/images/delete', { ids: ['../../etc/passwd'] }, { json: true }), 400, 'bad_ids');
    expectJsonError(await ownerPostJson(alice, '/account/images/delete', { ids: [{ id: 'x' }] }), 400, 'bad_ids');
    expect((await ownerPostJson(alice, '/account/images/delete', { ids: 'AAAAAAAAAAAA' })).json()).to.deep.equal({ deleted: 0 });
  });

  it('requires the CSRF token on every action, and changes nothing without it', async () => {
    const id = await upload();
    for (const [path, fields] of [
      [`/account/images/${id}/title`, { title: 'x' }],
      [`/account/images/${id}/visibility`, { visibility: 'public' }],
      [`/account/images/${id}/delete`, {}],
      ['/account/images/delete', { ids: id }],
      ['/account/claim', { link: `${app.url}/delete/${id}/${'k'.repeat(24)}` }],
    ] as const) {
      expectJsonError(await ownerPost(alice, path, fields, { json: true, csrf: false }), 403, 'csrf_failed');
    }
    expect(await row(id)).to.include({ title: null, visibility: 'unlisted' });
  });
});
