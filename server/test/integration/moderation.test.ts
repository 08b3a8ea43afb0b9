import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { reportTarget, staffPost, COPYRIGHT_NOTICE } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

describe('reports and moderation', function () {
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

  const report = (imageId: string, fields: Record<string, string>) => reportTarget(app, imageId, fields);
  const moderate = (imageId: string, action: string, reason = '') => staffPost(moderator, `/admin/images/${imageId}/moderate`, { action, reason });
  const variants = (image: { url: string; pageUrl: string; thumbnailUrl: string }) => [image.url, image.pageUrl, image.thumbnailUrl];

  it('anyone who can see an image reports it; the report keeps no IP, the security log does', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expect((await rawRequest(image.pageUrl)).body.toString()).to.include(`href="/report/${image.id}"`);
    expect((await rawRequest(`${app.url}/report/${image.id}`)).status).to.equal(200);
    const res = await report(image.id, { reason: 'spam', details: 'Ads everywhere', email: 'reporter@example.test' });
    expect(res.status).to.equal(201);
    const [row] = await app.db('reports').where({ image_id: image.id });
    expect(row).to.include({ reason: 'spam', details: 'Ads everywhere', reporter_email: 'reporter@example.test', status: 'open' });
    expect(JSON.stringify(row)).not.to.include('127.0.0.1');
    const [log] = await app.db('security_log').where({ event: 'abuse.report' });
    expect(log.ip).to.equal('127.0.0.1');
    expect(JSON.parse(log.detail)).to.include({ imageId: image.id, reason: 'spam' });
  });

  it('refuses bad reports with a clear message and stores nothing; private and unknown images cannot be reported', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expectJsonError(await report(image.id, { reason: 'boring' }), 400, 'bad_reason');
    expectJsonError(await report(image.id, { reason: 'spam', email: 'not an address' }), 400, 'bad_email');
    expectJsonError(await report(image.id, { reason: 'spam', details: 'x'.repeat(5001) }), 400, 'details_too_long');
    expectJsonError(await report(image.id, { reason: 'copyright', work: 'My photo' }), 400, 'incomplete_notice');
    expect((await new WebClient(app.url).post(`/report/${image.id}`, { reason: 'spam' }, { csrf: false })).status, 'CSRF').to.equal(403);
    expect(await app.db('reports')).to.deep.equal([]);
    const mine = (await ownerUpload(owner, await fixtures.png())).json();
    await ownerPost(owner, `/account/images/${mine.id}/visibility`, { visibility: 'private' }, { json: true });
    expect((await rawRequest(`${app.url}/report/${mine.id}`)).status).to.equal(404);
    const client = new WebClient(app.url);
    const token = await client.csrfFrom(`/report/${image.id}`);
    expectJsonError(await client.post('/report/AAAAAAAAAAAA', { reason: 'spam' }, { csrf: token, json: true }), 404, 'not_found');
    // A full copyright notice is kept with the report.
    expect((await report(image.id, COPYRIGHT_NOTICE)).status).to.equal(201);
    expect(JSON.parse((await app.db('reports').first()).copyright)).to.include({ work: 'Sunset', claimant: 'Ann Owner', goodFaith: true, accurate: true });
  });

  it('the queue groups open reports by image and blurs CSAM and illegal-content reports until clicked', async () => {
    const a = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const b = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await report(a.id, { reason: 'spam' });
    await report(a.id, { reason: 'other', details: 'again' });
    await report(b.id, { reason: 'csam' });
    const { groups } = (await moderator.client.get('/admin/reports', { Accept: 'application/json' })).json();
    expect(groups.map((g: { imageId: string; reports: unknown[] }) => [g.imageId, g.reports.length])).to.deep.equal([[a.id, 2], [b.id, 1]]);
    expect(groups.map((g: { blurred: boolean }) => g.blurred)).to.deep.equal([false, true]);
    const only = (await moderator.client.get('/admin/reports?reason=csam', { Accept: 'application/json' })).json().groups;
    expect(only.map((g: { imageId: string }) => g.imageId)).to.deep.equal([b.id]);
    const html = (await moderator.client.get('/admin/reports')).body.toString();
    expect(html).to.match(new RegExp(`<details class="blurred-thumb">[^]*?/admin/images/${b.id}/thumb`));
    expect((await new WebClient(app.url).get('/admin/reports')).status).to.equal(404);
    expect((await owner.client.get('/admin/reports')).status).to.equal(404);
    expect((await owner.client.post(`/admin/images/${a.id}/moderate`, { action: 'hide', reason: 'x' }, { csrfPage: '/account/images' })).status).to.equal(404);
  });

  it('sensitive: a warning before the image and no preview when the link unfurls', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await report(image.id, { reason: 'other' });
    expectJsonError(await moderate(image.id, 'sensitive'), 400, 'reason_required');
    expect((await moderate(image.id, 'sensitive', 'Graphic injury')).status).to.equal(200);
    const page = (await rawRequest(image.pageUrl)).body.toString();
    expect(page).to.include('id="sensitive-warning"').and.not.include('og:image');
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect((await app.db('reports').first()).status).to.equal('actioned');
    // The guest holding the delete link is told why.
    expect((await rawRequest(image.deleteUrl)).body.toString()).to.include('marked this image sensitive').and.include('Graphic injury');
  });

  it('hide: not served on any route to anyone, the owner sees why, and unhiding brings it back', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await ownerPost(owner, `/account/images/${image.id}/visibility`, { visibility: 'public' }, { json: true });
    const album = await owner.client.post('/account/albums', { title: 'Shared' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(album.headers.location))![1]!;
    await owner.client.post(`/account/albums/${albumId}/images`, [['image_id', image.id]], { csrfPage: `/account/albums/${albumId}` });
    const listed = async () => [
      (await rawRequest(`${app.url}/u/${owner.username}`)).body.toString().includes(image.id),
      (await rawRequest(`${app.url}/a/${albumId}`)).body.toString().includes(image.id),
    ];
    expect(await listed()).to.deep.equal([true, true]);
    await report(image.id, { reason: 'harassment' });
    expect((await moderate(image.id, 'hide', 'Shows a private address')).status).to.equal(200);
    expect(await listed(), 'listed on the profile and the album page').to.deep.equal([false, false]);
    for (const url of variants(image)) {
      expect((await rawRequest(url)).status, url).to.equal(404);
      expect((await owner.client.request(url)).status, `owner ${url}`).to.equal(404);
      expect((await rawRequest(url, { method: 'HEAD' })).status, `HEAD ${url}`).to.equal(404);
    }
    const mine = (await owner.client.get('/account/images', { Accept: 'application/json' })).json();
    expect(mine.moderation).to.have.length(1);
    expect(mine.moderation[0]).to.include({ imageId: image.id, action: 'hidden', reason: 'Shows a private address' });
    expect((await owner.client.get('/account/images')).body.toString()).to.include('id="moderation-notices"');
    expect((await moderator.client.request(`/admin/images/${image.id}/thumb`)).status, 'staff still see it').to.equal(200);
    expect((await moderate(image.id, 'restore')).status).to.equal(200);
    for (const url of variants(image)) expect((await rawRequest(url)).status, url).to.equal(200);
  });

  it('remove: needs a fresh password, moves the bytes to the recovery store, shows the statement; restore undoes it', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await report(image.id, { reason: 'illegal' });
    expectJsonError(await moderate(image.id, 'remove', 'Unlawful content'), 403, 'reauth_required');
    expect((await rawRequest(image.url)).status).to.equal(200);
    await reauth(moderator);
    expect((await moderate(image.id, 'remove', 'Unlawful content')).status).to.equal(200);
    for (const url of variants(image)) expect((await rawRequest(url)).status, url).to.equal(404);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.have.length(2);
    expect(await app.db('recovery_items').where({ image_id: image.id }).first()).to.include({ reason: 'moderation', statement: 'Unlawful content' });
    // The guest's delete link now explains; a wrong key learns nothing.
    const statement = await rawRequest(image.deleteUrl);
    expect(statement.status).to.equal(200);
    expect(statement.body.toString()).to.include('Removed by the moderators').and.include('Unlawful content');
    expect((await rawRequest(image.deleteUrl.replace(/\w$/, (c: string) => (c === 'A' ? 'B' : 'A')))).status).to.equal(404);

    expect((await moderate(image.id, 'restore')).status).to.equal(200);
    expect((await rawRequest(image.url)).status).to.equal(200);
    const audit = (await moderator.client.get(`/admin/audit?actor=${moderator.username}`, { Accept: 'application/json' })).json().entries;
    expect(audit.map((e: { action: string }) => e.action)).to.have.members(['image.remove', 'image.restore']);
    expect(audit.find((e: { action: string }) => e.action === 'image.remove')).to.include({ targetId: image.id, reason: 'Unlawful content' });
  });

  it('dismiss closes the reports and changes nothing else', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await report(image.id, { reason: 'spam' });
    expect((await moderate(image.id, 'dismiss')).status).to.equal(200);
    expect((await app.db('reports').first()).status).to.equal('dismissed');
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect((await moderator.client.get('/admin/reports', { Accept: 'application/json' })).json().groups).to.deep.equal([]);
    expectJsonError(await moderate(image.id, 'delete-everything', 'x'), 400, 'bad_action');
  });
});
