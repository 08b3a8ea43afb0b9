import { toPublicError } from '../../http/errors.js';
import { expect } from 'chai';
import { toRow } from '../../db/images.repo.js';
import { createRepos } from '../../db/repos.js';
import { reapRecovery, recordDeletions, RecoveryGone, restoreImage, type RecoveryDeps } from '../../services/recovery.service.js';
import { fixtures } from '../fixtures/images.js';
import { expectConsistentUsage, ownerPost, ownerUpload, usageOfUser } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

describe('recovery store: deleted bytes are kept aside, never served, restorable, then reaped', () => {
  let app: TestApp;
  let alice: TestUser;
  let deps: RecoveryDeps;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
    deps = { repos: createRepos(app.db), storage: app.storage };
  });
  afterEach(() => app.close());

  const actor = { userId: null, ip: '192.0.2.9', userAgent: 'test' };
  const bytesOf = async (url: string) => (await rawRequest(url)).body;

  it('an owner’s delete moves both variants under recovery/<random token>/; no URL, old or guessed, reaches them', async () => {
    const image = (await ownerUpload(alice, await fixtures.png())).json();
    const live = await app.storedKeys();
    expect((await ownerPost(alice, `/account/images/${image.id}/delete`, {}, { json: true })).json()).to.deep.equal({ deleted: 1 });
    expect(await app.storedKeys()).to.deep.equal([]);
    const item = await deps.repos.recovery.find(image.id);
    expect(item).to.include({ reason: 'owner', ownerId: alice.id, bytesMoved: true });
    expect(item!.token).to.match(/^[0-9A-Za-z]{24}$/);
    expect(item!.token).not.to.include(image.id);
    const kept = await app.recoveryKeys();
    expect(kept).to.deep.equal(live.map((key) => `recovery/${item!.token}/${key}`).sort());
    for (const url of [image.url, image.thumbnailUrl, image.pageUrl]) expect((await rawRequest(url)).status, url).to.equal(404);
    for (const key of kept) {
      for (const path of [`/${key}`, `/i/${key}`, `/i/..%2F${key}`, `/static/../${key}`, `/data/storage/${key}`]) {
        expect((await rawRequest(`${app.url}${path}`)).status, path).to.equal(404);
      }
    }
    await expectConsistentUsage(app, alice.id);
  });

  it('a guest’s delete link keeps the bytes aside too, with the reason', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    expect(await deps.repos.recovery.find(image.id)).to.include({ reason: 'delete_key', ownerId: null, bytesMoved: true });
    expect(await app.recoveryKeys()).to.have.length(3);
  });

  it('restore brings the image back under its old links with the same bytes, charges the owner’s quota and logs it', async () => {
    const image = (await ownerUpload(alice, await fixtures.png())).json();
    const original = await bytesOf(image.url);
    const thumb = await bytesOf(image.thumbnailUrl);
    const before = await usageOfUser(app, alice.id);
    await ownerPost(alice, `/account/images/${image.id}/delete`, {}, { json: true });
    expect((await usageOfUser(app, alice.id)).used).to.equal(0);

    const restored = await restoreImage(deps, image.id, actor, new Date());
    expect(restored.id).to.equal(image.id);
    expect(await bytesOf(image.url)).to.deep.equal(original);
    expect(await bytesOf(image.thumbnailUrl)).to.deep.equal(thumb);
    expect((await rawRequest(image.pageUrl)).status).to.equal(200);
    expect(await app.recoveryKeys()).to.deep.equal([]);
    expect(await deps.repos.recovery.find(image.id)).to.equal(null);
    expect((await usageOfUser(app, alice.id)).used).to.equal(before.used);
    await expectConsistentUsage(app, alice.id);
    const [log] = await app.db('security_log').where({ event: 'image.restore' });
    expect(JSON.parse(log.detail)).to.deep.equal({ imageId: image.id, reason: 'owner' });
    // It shows in the owner's list again.
    const list = (await alice.client.get('/account/images', { Accept: 'application/json' })).json();
    expect(list.images.map((i: { id: string }) => i.id)).to.deep.equal([image.id]);
  });

  it('the reaper removes items past RECOVERY_DAYS (bytes and row) and keeps younger ones; a later restore gets a clear 410', async () => {
    const old = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const young = (await upload(app.url, { bytes: await fixtures.jpegWithGps() })).json();
    for (const image of [old, young]) await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    // Backdate one deletion: it happened 15 days ago, the other one just now.
    await app.db('recovery_items').where({ image_id: old.id }).update({ deleted_at: new Date(Date.now() - 15 * DAY) });
    const youngKeys = (await app.recoveryKeys()).filter((k) => k.includes(young.id));

    expect(await reapRecovery(deps, 14, new Date())).to.deep.equal({ reaped: 1, moved: 0 });
    expect(await app.recoveryKeys()).to.deep.equal(youngKeys);
    expect(await deps.repos.recovery.find(old.id)).to.equal(null);
    expect(await deps.repos.recovery.find(young.id)).not.to.equal(null);
    expect(await reapRecovery(deps, 14, new Date()), 'a second run finds nothing').to.deep.equal({ reaped: 0, moved: 0 });

    const err = await restoreImage(deps, old.id, actor, new Date()).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(RecoveryGone);
    expect(toPublicError(err).status).to.equal(410);
    expect((err as RecoveryGone).message).to.match(/recovery window has ended/);
    expect(await app.storedKeys()).to.deep.equal([]);

    // The window comes from the setting: with 0 days left everything goes.
    expect((await reapRecovery(deps, 0, new Date(Date.now() + 1000))).reaped).to.equal(1);
    expect(await app.recoveryKeys()).to.deep.equal([]);
    expect(await deps.repos.recovery.count()).to.equal(0);
  });

  it('the reaper finishes a move that failed after the delete was committed, and reaps an item whose bytes are already gone', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const record = await deps.repos.images.findById(image.id);
    // As if the store failed right after the commit: the row is gone and the item recorded, the bytes not moved.
    await deps.repos.transaction(async (tx) => {
      await tx.images.deleteById(image.id);
      await recordDeletions(tx, [record!], 'delete_key', new Date(Date.now() - 10 * 60_000));
    });
    expect(await app.storedKeys()).to.have.length(3);
    expect((await rawRequest(image.url)).status, 'no row, nothing served').to.equal(404);

    expect(await reapRecovery(deps, 14, new Date())).to.deep.equal({ reaped: 0, moved: 1 });
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.have.length(3);
    expect((await deps.repos.recovery.find(image.id))!.bytesMoved).to.equal(true);

    for (const key of await app.recoveryKeys()) await app.storage.delete(key);
    await app.db('recovery_items').update({ deleted_at: new Date(Date.now() - 30 * DAY) });
    expect(await reapRecovery(deps, 14, new Date())).to.deep.equal({ reaped: 1, moved: 0 });
  });

  it('a restore whose bytes were removed outside Pixbin gets the same clear error and changes nothing', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    for (const key of await app.recoveryKeys()) await app.storage.delete(key);
    const err = await restoreImage(deps, image.id, actor, new Date()).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(RecoveryGone);
    expect(await deps.repos.images.findById(image.id)).to.equal(null);
  });

  it('a restore that cannot insert the row puts the bytes back where the item says they are', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    const kept = await app.recoveryKeys();
    // Something took the id meanwhile (cannot happen with random ids; here it makes the insert fail).
    const item = await deps.repos.recovery.find(image.id);
    await app.db('images').insert(toRow({ ...item!.record, deleteKeyHash: 'x'.repeat(64) }));
    const err = await restoreImage(deps, image.id, actor, new Date()).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(await app.recoveryKeys()).to.deep.equal(kept);
    expect(await deps.repos.recovery.find(image.id)).not.to.equal(null);
  });
});
