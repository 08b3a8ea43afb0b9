import { randomUUID } from 'node:crypto';
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
    expect(await app.recoveryKeys()).to.have.length(3);
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

  /** Makes the audit log refuse entries of one action, as a full disk or a lost connection would. */
  async function refuseAuditEntries(action: string): Promise<() => Promise<void>> {
    if (app.db.dialect === 'postgres') {
      await app.db.raw(`create function test_refuse_audit() returns trigger language plpgsql as $$ begin if new.action = '${action}' then raise exception 'audit unavailable'; end if; return new; end $$`);
      await app.db.raw('create trigger test_refuse_audit before insert on audit_log for each row execute function test_refuse_audit()');
      return async () => {
        await app.db.raw('drop trigger test_refuse_audit on audit_log');
        await app.db.raw('drop function test_refuse_audit()');
      };
    }
    await app.db.raw(`create trigger test_refuse_audit before insert on audit_log when new.action = '${action}' begin select raise(abort, 'audit unavailable'); end`);
    return async () => {
      await app.db.raw('drop trigger test_refuse_audit');
    };
  }

  it('a decision and its audit entry commit together: when the audit write fails, nothing changes', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await report(image.id, { reason: 'harassment' });
    const auditCount = async () => (await app.db('audit_log').where({ target_id: image.id })).length;

    let allow = await refuseAuditEntries('image.hide');
    try {
      expect((await moderate(image.id, 'hide', 'Shows a private address')).status).to.equal(500);
    } finally {
      await allow();
    }
    expect((await app.db('images').where({ id: image.id }).first()).moderation_state, 'the image is not hidden').to.equal(null);
    expect((await app.db('reports').first()).status, 'the report is still open').to.equal('open');
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect(await auditCount()).to.equal(0);

    await reauth(moderator);
    allow = await refuseAuditEntries('image.remove');
    try {
      expect((await moderate(image.id, 'remove', 'Unlawful content')).status).to.equal(500);
    } finally {
      await allow();
    }
    expect(await app.db('images').where({ id: image.id }), 'the image is still there').to.have.length(1);
    expect(await app.db('recovery_items')).to.deep.equal([]);
    expect((await app.db('users').where({ id: owner.id }).first()).used_bytes, 'its bytes still count').to.be.above(0);
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect(await auditCount()).to.equal(0);

    // Removed for real, then a restore whose audit write fails: the image stays in the recovery store, bytes included.
    expect((await moderate(image.id, 'remove', 'Unlawful content')).status).to.equal(200);
    const recoveryKeys = await app.recoveryKeys();
    allow = await refuseAuditEntries('image.restore');
    try {
      expect((await moderate(image.id, 'restore')).status).to.equal(500);
    } finally {
      await allow();
    }
    expect(await app.db('images').where({ id: image.id })).to.deep.equal([]);
    expect(await app.db('recovery_items').where({ image_id: image.id })).to.have.length(1);
    expect(await app.recoveryKeys(), 'the bytes went back to the recovery store').to.deep.equal(recoveryKeys);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect((await app.db('audit_log').where({ target_id: image.id })).map((e: { action: string }) => e.action)).to.deep.equal(['image.remove']);
    // With the audit log back, the same restore goes through.
    expect((await moderate(image.id, 'restore')).status).to.equal(200);
    expect((await rawRequest(image.url)).status).to.equal(200);
  });

  it('the queue pages by 25 groups, oldest first report first, keeping the filter; album reports page on their own', async () => {
    const base = Date.parse('2026-11-01T00:00:00Z');
    const rows = (kind: 'image' | 'album', count: number) =>
      Array.from({ length: count }, (_, i) => ({
        id: randomUUID(),
        image_id: kind === 'image' ? `gone${String(i).padStart(8, '0')}` : null,
        album_id: kind === 'album' ? `albm${String(i).padStart(8, '0')}` : null,
        reason: i % 2 ? 'spam' : 'other',
        status: 'open',
        created_at: new Date(base + i * 60_000),
      }));
    const images = rows('image', 30);
    const albums = rows('album', 27);
    await app.db('reports').insert(images);
    await app.db('reports').insert(albums);
    // A second report about the first image counts in its group, not as a new one.
    await app.db('reports').insert({ ...images[0]!, id: randomUUID(), created_at: new Date(base + 99 * 60_000) });

    const queue = async (query = '') => (await moderator.client.get(`/admin/reports${query}`, { Accept: 'application/json' })).json();
    const first = await queue();
    expect(first.groups.map((g: { imageId: string }) => g.imageId)).to.deep.equal(images.slice(0, 25).map((r) => r.image_id));
    expect(first.groups[0].reports).to.have.length(2);
    expect(first).to.include({ page: 1, hasNext: true, albumPage: 1, albumHasNext: true });
    expect(first.albumGroups).to.have.length(25);
    const second = await queue('?page=2');
    expect(second.groups.map((g: { imageId: string }) => g.imageId)).to.deep.equal(images.slice(25).map((r) => r.image_id));
    expect(second.hasNext).to.equal(false);
    expect(second.albumGroups.map((g: { albumId: string }) => g.albumId), 'albums stay on their own first page').to.deep.equal(albums.slice(0, 25).map((r) => r.album_id));
    expect((await queue('?album_page=2')).albumGroups.map((g: { albumId: string }) => g.albumId)).to.deep.equal(albums.slice(25).map((r) => r.album_id));
    const newest = await queue('?sort=newest&page=2');
    expect(newest.groups.map((g: { imageId: string }) => g.imageId)).to.deep.equal(images.slice(0, 5).reverse().map((r) => r.image_id));
    const spam = await queue('?reason=spam');
    expect(spam.groups).to.have.length(15);
    expect(spam.hasNext).to.equal(false);
    expect((await queue('?page=nonsense')).page).to.equal(1);

    const html = (await moderator.client.get('/admin/reports?sort=newest')).body.toString();
    expect(html).to.include('href="/admin/reports?sort=newest&amp;page=2"');
    expect(html).to.include('href="/admin/reports?sort=newest&amp;album_page=2"');
    const page2 = (await moderator.client.get('/admin/reports?page=2')).body.toString();
    expect(page2).to.include('id="reports-previous"').and.not.include('id="reports-next"');
    expect(page2).to.include(`id="group-${images[29]!.image_id}"`);
  });

  it('loading the queue costs the same number of queries with 4 groups as with 80', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await report(image.id, { reason: 'spam' });
    const created = await owner.client.post('/account/albums', { title: 'Holiday' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(created.headers.location))![1]!;
    await owner.client.post(`/account/albums/${albumId}/images`, [['image_id', image.id]], { csrfPage: `/account/albums/${albumId}` });
    await reportTarget(app, albumId, { reason: 'spam' }, 'album');
    const guest = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await report(guest.id, { reason: 'other' });

    // Only the queue's own queries: the session lookup around them is not what is measured.
    const queueQueries = async () => {
      let count = 0;
      const onQuery = (q: { sql: string }) => {
        if (/\b(reports|images|albums|album_images)\b/.test(q.sql)) count++;
      };
      app.db.on('query', onQuery);
      try {
        const res = await moderator.client.get('/admin/reports', { Accept: 'application/json' });
        expect(res.status).to.equal(200);
        return { count, groups: res.json().groups.length + res.json().albumGroups.length };
      } finally {
        app.db.removeListener('query', onQuery);
      }
    };
    const few = await queueQueries();
    expect(few.groups).to.equal(3);
    const later = Date.now() + 60_000;
    const more = Array.from({ length: 80 }, (_, i) => ({
      id: randomUUID(),
      image_id: i % 2 ? `gone${String(i).padStart(8, '0')}` : null,
      album_id: i % 2 ? null : `albm${String(i).padStart(8, '0')}`,
      reason: 'spam',
      status: 'open',
      created_at: new Date(later + i),
    }));
    await app.db('reports').insert(more);
    const many = await queueQueries();
    expect(many.groups).to.equal(50);
    expect(many.count, `${few.count} queries for 3 groups, ${many.count} for a full page`).to.equal(few.count);
    expect(few.count).to.be.at.most(8);
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
