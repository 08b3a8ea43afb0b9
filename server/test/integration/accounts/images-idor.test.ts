import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { expectConsistentUsage, ownerPost, ownerPostJson, ownerUpload, usageOfUser } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

/** Another user and a guest try every route and variant on the first user's images. */
describe('accounts: nobody but the owner can see, list, change or delete an image (IDOR)', () => {
  let app: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let aliceImages: Record<'public' | 'unlisted' | 'private', { id: string; deleteUrl: string }>;
  let snapshot: unknown[];
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
    bob = await signedInUser(app);
    const png = await fixtures.png();
    const make = async (visibility: 'public' | 'unlisted' | 'private') => {
      const body = (await ownerUpload(alice, png, { filename: `alice-${visibility}.png` })).json();
      await ownerPost(alice, `/account/images/${body.id}/title`, { title: `Alice ${visibility} secret` }, { json: true });
      await ownerPost(alice, `/account/images/${body.id}/visibility`, { visibility }, { json: true });
      return { id: body.id as string, deleteUrl: body.deleteUrl as string };
    };
    aliceImages = { public: await make('public'), unlisted: await make('unlisted'), private: await make('private') };
    snapshot = await app.db('images').where({ owner_id: alice.id }).orderBy('id');
  });
  afterEach(async () => {
    // Whatever was tried, Alice's rows and usage are exactly as they were.
    expect(await app.db('images').where({ owner_id: alice.id }).orderBy('id')).to.deep.equal(snapshot);
    await expectConsistentUsage(app, alice.id);
    await app.close();
  });

  const ids = () => Object.values(aliceImages).map((i) => i.id);

  it('another user finds none of them in their list, by search or by paging', async () => {
    for (const q of ['', 'alice', 'secret', 'private', '%', '_']) {
      const list = (await bob.client.get(`/account/images?q=${encodeURIComponent(q)}`, { Accept: 'application/json' })).json();
      expect(list.images, `q=${q}`).to.deep.equal([]);
    }
    const html = (await bob.client.get('/account/images?q=alice')).body.toString();
    expect(html).not.to.include('Alice private secret');
    // A cursor made from one of Alice's rows is just a position in Bob's own list.
    const mine = (await ownerUpload(bob, await fixtures.png())).json().id;
    const aliceRow = await app.db('images').where({ id: aliceImages.private.id }).first();
    const cursor = Buffer.from(`${new Date(aliceRow.created_at).getTime() + 60_000}.${aliceImages.private.id}`).toString('base64url');
    const paged = (await bob.client.get(`/account/images?after=${cursor}`, { Accept: 'application/json' })).json();
    expect(paged.images.map((i: { id: string }) => i.id)).to.deep.equal([mine]);
  });

  it('profiles list only the public one, under Alice\'s name only', async () => {
    for (const client of [bob.client, new WebClient(app.url)]) {
      const profile = (await client.get(`/u/${alice.username}`, { Accept: 'application/json' })).json();
      expect(profile.images.map((i: { id: string }) => i.id)).to.deep.equal([aliceImages.public.id]);
      expect((await client.get(`/u/${bob.username}`, { Accept: 'application/json' })).json().images).to.deep.equal([]);
    }
  });

  it('another user gets the same 404 as for a missing image on rename, visibility and delete, in forms and JSON', async () => {
    for (const id of [...ids(), 'AAAAAAAAAAAA']) {
      for (const [path, fields] of [
        [`/account/images/${id}/title`, { title: 'pwned' }],
        [`/account/images/${id}/visibility`, { visibility: 'public' }],
        [`/account/images/${id}/delete`, {}],
      ] as const) {
        expectJsonError(await ownerPost(bob, path, fields, { json: true }), 404, 'not_found');
        expectJsonError(await ownerPostJson(bob, path, fields), 404, 'not_found');
        const html = await ownerPost(bob, path, fields);
        expect(html.status, path).to.equal(404);
      }
    }
  });

  it('a bulk delete with mixed ids removes only the caller\'s own images', async () => {
    const his = (await ownerUpload(bob, await fixtures.png())).json().id;
    const res = await ownerPost(bob, '/account/images/delete', { ids: [...ids(), his] }, { json: true });
    expect(res.json()).to.deep.equal({ deleted: 1 });
    expect((await usageOfUser(app, bob.id)).used).to.equal(0);
    await expectConsistentUsage(app, bob.id);
  });

  it('another user cannot claim an image that already has an owner, even with its real delete link', async () => {
    const res = await ownerPost(bob, '/account/claim', { link: aliceImages.private.deleteUrl }, { json: true });
    expectJsonError(res, 404, 'claim_not_found');
    expect(await app.db('security_log').where({ event: 'image.claim' })).to.have.length(0);
    // Alice's own link still works (the afterEach snapshot is taken before this, so only ask, never delete).
    expect((await rawRequest(aliceImages.private.deleteUrl)).status).to.equal(200);
  });

  it('a guest is turned away from every account route, with or without a made-up session', async () => {
    const forged = new WebClient(app.url);
    forged.cookies.set('pixbin_session', 'A'.repeat(43));
    for (const client of [new WebClient(app.url), forged]) {
      const id = aliceImages.private.id;
      for (const [path, fields] of [
        [`/account/images/${id}/title`, { title: 'pwned' }],
        [`/account/images/${id}/visibility`, { visibility: 'public' }],
        [`/account/images/${id}/delete`, {}],
        ['/account/images/delete', { ids: id }],
        ['/account/claim', { link: aliceImages.private.deleteUrl }],
      ] as const) {
        const res = await client.post(path, fields, { json: true, csrf: false });
        expectJsonError(res, 401, 'login_required');
      }
      expect((await client.get('/account/images', { Accept: 'application/json' })).status).to.equal(401);
    }
  });
});
