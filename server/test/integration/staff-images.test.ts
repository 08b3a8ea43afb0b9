import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { fakeImage, insertFakeImages, ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { reportTarget } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

describe('staff image browser and moderation history: find any image, see what happened, undo it', function () {
  this.timeout(60_000);
  let app: TestApp;
  let moderator: TestUser;
  let owner: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    moderator = await staffUser(app, 'moderator');
    owner = await signedInUser(app);
  });
  afterEach(() => app.close());

  const json = { Accept: 'application/json' };
  const history = async (id: string) => (await moderator.client.get(`/admin/images/${id}`, json)).json();
  /** A decision sent from the history page's form, as a browser would. */
  const decide = (id: string, action: string, reason = '') => moderator.client.post(`/admin/images/${id}/moderate`, { action, reason, back: 'history' }, { csrfPage: `/admin/images/${id}` });
  const browse = async (query: Record<string, string>) => (await moderator.client.get(`/admin/images?${new URLSearchParams(query).toString()}`, json)).json();

  it('an image nobody reported can be hidden from its history page, and unhidden again; every decision is listed', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    const page = await moderator.client.get(`/admin/images/${image.id}`);
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    const html = page.body.toString();
    expect(html).to.include('id="decide-form"').and.include('name="back" value="history"').and.include(`/admin/images/${image.id}/thumb`);
    expect(await history(image.id)).to.deep.include({ state: 'live', actions: ['sensitive', 'hide', 'remove'], ownerName: owner.username });

    const hidden = await decide(image.id, 'hide', 'Shows a private address');
    expect(hidden.status).to.equal(303);
    expect(hidden.headers.location, 'back to the history page').to.equal(`/admin/images/${image.id}`);
    expect((await rawRequest(image.url)).status).to.equal(404);
    const view = await history(image.id);
    expect(view).to.deep.include({ state: 'hidden', actions: ['clear', 'sensitive', 'remove'] });
    expect((await moderator.client.get(`/admin/images/${image.id}`)).body.toString()).to.include('>Unhide<');

    expect((await decide(image.id, 'clear')).status).to.equal(303);
    expect((await rawRequest(image.url)).status).to.equal(200);
    const audit = (await history(image.id)).audit.map((e: { action: string; actorName: string; reason: string | null }) => [e.action, e.actorName, e.reason]);
    expect(audit).to.have.deep.members([
      ['image.hide', moderator.username, 'Shows a private address'],
      ['image.clear', moderator.username, null],
    ]);
    expect((await moderator.client.get(`/admin/images/${image.id}`)).body.toString()).to.include('Shows a private address').and.include(moderator.username);
  });

  it('a removed image is shown from the recovery store, restorable until its window ends; restore brings it back; when reaped it says so', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await reportTarget(app, image.id, { reason: 'spam', details: 'Ads' });
    await reauth(moderator);
    expect((await decide(image.id, 'remove', 'Spam wave')).headers.location).to.equal(`/admin/images/${image.id}`);
    expect((await rawRequest(image.url)).status).to.equal(404);

    const removed = await history(image.id);
    expect(removed).to.deep.include({ state: 'removed', actions: ['restore'], ownerId: null });
    expect(removed.recovery).to.include({ reason: 'moderation', statement: 'Spam wave' });
    const until = new Date(removed.recovery.restorableUntil).getTime() - new Date(removed.recovery.deletedAt).getTime();
    expect(until).to.equal(app.config.recoveryDays * 86_400_000);
    expect(removed.reports.map((r: { reason: string; status: string; resolution: string }) => [r.reason, r.status, r.resolution])).to.deep.equal([['spam', 'actioned', 'remove']]);
    const thumb = await moderator.client.request(`/admin/images/${image.id}/removed-thumb`);
    expect(thumb.status).to.equal(200);
    expect(thumb.headers['content-type']).to.equal('image/webp');
    expect((await rawRequest(`${app.url}/admin/images/${image.id}/removed-thumb`)).status, 'staff only').to.equal(404);
    const html = (await moderator.client.get(`/admin/images/${image.id}`)).body.toString();
    expect(html).to.include('id="image-restorable"').and.include('Restore from the recovery store').and.include(`/admin/images/${image.id}/removed-thumb`);

    expect((await decide(image.id, 'restore')).status).to.equal(303);
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect((await history(image.id)).state).to.equal('live');

    // Removed again, then reaped (its window ended): the page says it is gone and offers nothing, the record stays.
    expect((await decide(image.id, 'remove', 'Spam again')).status).to.equal(303);
    await app.db('recovery_items').where({ image_id: image.id }).delete();
    const gone = await history(image.id);
    expect(gone).to.deep.include({ state: 'gone', actions: [], recovery: null, hasThumbnail: false });
    expect(gone.audit.map((e: { action: string }) => e.action)).to.have.members(['image.remove', 'image.restore', 'image.remove']);
    const goneHtml = (await moderator.client.get(`/admin/images/${image.id}`)).body.toString();
    expect(goneHtml).to.include('id="image-gone"').and.not.include('id="decide-form"');
    expectJsonError(await moderator.client.post(`/admin/images/${image.id}/moderate`, { action: 'restore' }, { csrfPage: '/admin/reports', json: true }), 404, 'not_found');
  });

  it('staff cannot look at, list or put back an image its uploader deleted; the history never carries the delete key hash', async () => {
    const kept = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expect(Object.keys((await history(kept.id)).image)).to.not.include('deleteKeyHash');
    const deleted = (await upload(app.url, { bytes: await fixtures.webp() })).json();
    expect((await rawRequest(deleted.deleteUrl, { method: 'POST', headers: json })).status).to.equal(200);
    expect((await moderator.client.get(`/admin/images/${deleted.id}`, json)).status, 'an uploader’s own deletion is not staff’s history').to.equal(404);
    expect((await moderator.client.get(`/admin/images/${deleted.id}/removed-thumb`)).status).to.equal(404);
    expect((await browse({ state: 'removed' })).images.map((i: { id: string }) => i.id)).to.not.include(deleted.id);
    expectJsonError(await moderator.client.post(`/admin/images/${deleted.id}/moderate`, { action: 'restore' }, { csrfPage: '/admin/reports', json: true }), 404, 'not_found');
    expect((await rawRequest(deleted.url)).status, 'still deleted').to.equal(404);
  });

  it('answers 404 for unknown ids and to users and guests; the queue, the audit log and the nav link to it', async () => {
    expectJsonError(await moderator.client.get('/admin/images/AAAAAAAAAAAA', json), 404, 'not_found');
    expect((await moderator.client.get('/admin/images/not-an-id')).status).to.equal(404);
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    for (const path of [`/admin/images/${image.id}`, '/admin/images', `/admin/images/${image.id}/removed-thumb`]) {
      expect((await owner.client.get(path)).status, `user ${path}`).to.equal(404);
      expect((await new WebClient(app.url).get(path)).status, `guest ${path}`).to.equal(404);
    }
    await reportTarget(app, image.id, { reason: 'spam' });
    expect((await moderator.client.get('/admin/reports')).body.toString()).to.include(`href="/admin/images/${image.id}"`);
    expect((await decide(image.id, 'sensitive', 'Gore')).status).to.equal(303);
    const audit = (await moderator.client.get('/admin/audit')).body.toString();
    expect(audit).to.include(`<a href="/admin/images/${image.id}">${image.id}</a>`);
    expect((await moderator.client.get('/admin')).body.toString()).to.include('href="/admin/images"');
  });

  it('the browser finds images by id, owner, upload dates and state, and pages by keyset without gaps or repeats', async () => {
    const mine = (await ownerUpload(owner, await fixtures.png())).json();
    const guest = (await upload(app.url, { bytes: await fixtures.webp() })).json();
    const other = (await upload(app.url, { bytes: await fixtures.avif() })).json();
    expect((await decide(guest.id, 'hide', 'Private address')).status).to.equal(303);
    expect((await decide(other.id, 'sensitive', 'Gore')).status).to.equal(303);
    await reauth(moderator);
    const gone = (await upload(app.url, { bytes: await fixtures.jpegRotated() })).json();
    expect((await decide(gone.id, 'remove', 'Unlawful')).status).to.equal(303);

    const ids = (r: { images: Array<{ id: string }> }) => r.images.map((i) => i.id);
    expect(ids(await browse({}))).to.have.members([mine.id, guest.id, other.id]);
    expect(ids(await browse({ id: guest.id }))).to.deep.equal([guest.id]);
    expect(ids(await browse({ id: 'nonsense!' }))).to.deep.equal([]);
    const byOwner = await browse({ owner: owner.username.toUpperCase() });
    expect(byOwner.images).to.have.length(1);
    expect(byOwner.images[0]).to.include({ id: mine.id, ownerName: owner.username, state: 'live' });
    expect(ids(await browse({ owner: 'nobody_here' }))).to.deep.equal([]);
    expect(ids(await browse({ state: 'hidden' }))).to.deep.equal([guest.id]);
    expect(ids(await browse({ state: 'sensitive' }))).to.deep.equal([other.id]);
    const removed = await browse({ state: 'removed' });
    expect(removed.images).to.have.length(1);
    expect(removed.images[0]).to.include({ id: gone.id, state: 'removed', removal: 'moderation' });
    const today = new Date().toISOString().slice(0, 10);
    expect(ids(await browse({ from: today, to: today }))).to.have.length(3);
    expect(ids(await browse({ to: '2000-01-01' }))).to.deep.equal([]);
    expectJsonError(await moderator.client.get('/admin/images?from=yesterday', json), 400, 'bad_date');
    expectJsonError(await moderator.client.get('/admin/images?after=x', json), 400, 'bad_cursor');
    const html = (await moderator.client.get(`/admin/images?state=hidden`)).body.toString();
    expect(html).to.include(`href="/admin/images/${guest.id}"`).and.include('<option value="hidden" selected>');

    // 120 more rows, some sharing a timestamp: the pages cover every row once.
    const at = new Date('2026-03-01T12:00:00.000Z');
    const many = Array.from({ length: 120 }, (_, i) => fakeImage({ ownerId: owner.id, createdAt: new Date(at.getTime() - Math.floor(i / 3) * 1000) }));
    await insertFakeImages(app, many);
    const seen: string[] = [];
    let query: Record<string, string> = { owner: owner.username };
    for (let pages = 0; pages < 10; pages += 1) {
      const result = await browse(query);
      seen.push(...ids(result));
      if (!result.next) break;
      expect(result.images).to.have.length(50);
      query = { owner: owner.username, after: result.next };
    }
    expect(seen).to.have.length(121);
    expect(new Set(seen).size).to.equal(121);
    const firstPage = (await moderator.client.get(`/admin/images?owner=${owner.username}`)).body.toString();
    expect(firstPage).to.include('id="images-next"');
  });
});
