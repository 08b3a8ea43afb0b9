import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { expectConsistentUsage, ownerPost, ownerPostJson, ownerUpload, usageOfUser } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { rawRequest, upload } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

describe('accounts: claiming a guest upload', () => {
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

  const guestUpload = async (): Promise<{ id: string; deleteUrl: string }> => {
    const res = await upload(app.url, { bytes: png, filename: 'guest.png' });
    expect(res.status).to.equal(201);
    return res.json() as { id: string; deleteUrl: string };
  };
  const row = async (id: string) => app.db('images').where({ id }).first();

  it('moves the image into the account, reserves its bytes, retires the delete link and logs image.claim', async () => {
    const guest = await guestUpload();
    const before = await row(guest.id);
    const res = await ownerPost(alice, '/account/claim', { link: `  ${guest.deleteUrl}  ` });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/account/images?done=claimed');
    expect((await alice.client.get('/account/images?done=claimed')).body.toString()).to.include('The image is now in your account');

    const after = await row(guest.id);
    expect(after.owner_id).to.equal(alice.id);
    expect(after.delete_key_hash).to.match(/^[0-9a-f]{64}$/).and.not.equal(before.delete_key_hash);
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(Number(after.size) + Number(after.thumb_size) + Number(after.display_size));

    // The guest's link no longer deletes (or even shows) an image that now belongs to an account.
    expect((await rawRequest(guest.deleteUrl)).status).to.equal(404);
    expect((await rawRequest(guest.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } })).status).to.equal(404);
    expect(await row(guest.id)).not.to.equal(undefined);

    const log = await app.db('security_log').where({ event: 'image.claim' });
    expect(log).to.have.length(1);
    expect(log[0].user_id).to.equal(alice.id);
    expect(JSON.parse(log[0].detail)).to.include({ imageId: guest.id });
    const list = (await alice.client.get('/account/images', { Accept: 'application/json' })).json();
    expect(list.images.map((i: { id: string }) => i.id)).to.deep.equal([guest.id]);
  });

  it('accepts the id and key as separate fields, a bare path, and a link with a trailing slash', async () => {
    const one = await guestUpload();
    const [id, key] = one.deleteUrl.split('/').slice(-2);
    const res = await ownerPostJson(alice, '/account/claim', { id, key });
    expect(res.status).to.equal(200);
    expect(res.json()).to.deep.include({ claimed: true });
    expect(res.json().image).to.include({ id, visibility: 'unlisted' });
    expect(res.json().image).not.to.have.property('deleteKeyHash');

    const two = await guestUpload();
    expect((await ownerPost(alice, '/account/claim', { link: new URL(two.deleteUrl).pathname }, { json: true })).status).to.equal(200);
    const three = await guestUpload();
    expect((await ownerPost(alice, '/account/claim', { link: `${three.deleteUrl}/` }, { json: true })).status).to.equal(200);
    expect((await usageOfUser(app, alice.id)).rows).to.equal(3);
  });

  it('answers a wrong key, a missing image and an image with an owner alike (404), and garbage with 400', async () => {
    const guest = await guestUpload();
    const [id, key] = guest.deleteUrl.split('/').slice(-2) as [string, string];
    const wrongKey = `${app.url}/delete/${id}/${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const missing = `${app.url}/delete/AAAAAAAAAAAA/${key}`;
    const owned = (await ownerUpload(alice, png)).json().deleteUrl as string; // alice's own, uploaded signed in
    const messages = new Set<string>();
    for (const link of [wrongKey, missing, owned]) messages.add(expectJsonError(await ownerPost(alice, '/account/claim', { link }, { json: true }), 404, 'claim_not_found'));
    expect([...messages]).to.have.length(1);
    expect([...messages][0]).to.match(/pasted all of it/);

    const garbage: Array<Record<string, string>> = [{ link: 'hello' }, { link: `${app.url}/i/${id}` }, { link: `${app.url}/delete/${id}` }, {}, { id, key: 'short' }];
    for (const fields of garbage) {
      expect(expectJsonError(await ownerPost(alice, '/account/claim', fields, { json: true }), 400, 'bad_claim_link')).to.match(/delete link/);
    }
    expect((await row(id)).owner_id).to.equal(null);
    expect(await app.db('security_log').where({ event: 'image.claim' })).to.have.length(0);

    // A browser sees the list again, with the message by the form and without the pasted link.
    const html = await ownerPost(alice, '/account/claim', { link: wrongKey });
    expect(html.status).to.equal(404);
    const body = html.body.toString();
    expect(body).to.include('id="claim-error"').and.include('pasted all of it').and.not.include(key.slice(0, -1));
  });

  it('refuses a claim over quota with 413 and changes nothing: the guest link still works', async () => {
    const guest = await guestUpload();
    await app.db('users').where({ id: alice.id }).update({ quota_bytes: 100 });
    const message = expectJsonError(await ownerPost(alice, '/account/claim', { link: guest.deleteUrl }, { json: true }), 413, 'quota_exceeded');
    expect(message).to.match(/needs .* but only 100 B/);
    expect((await row(guest.id)).owner_id).to.equal(null);
    expect((await usageOfUser(app, alice.id)).used).to.equal(0);
    expect(await app.db('security_log').where({ event: 'image.claim' })).to.have.length(0);
    expect((await rawRequest(guest.deleteUrl)).status).to.equal(200);
  });

  it('lets exactly one of two accounts claiming the same image at once win', async () => {
    const bob = await signedInUser(app);
    const guest = await guestUpload();
    const results = await Promise.all([alice, bob].map((user) => ownerPost(user, '/account/claim', { link: guest.deleteUrl }, { json: true })));
    expect(results.map((r) => r.status).sort()).to.deep.equal([200, 404]);
    const winner = (await row(guest.id)).owner_id;
    const loser = winner === alice.id ? bob : alice;
    expect((await usageOfUser(app, loser.id)).used).to.equal(0);
    await expectConsistentUsage(app, winner);
  });
});
