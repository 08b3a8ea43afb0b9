import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { expireSessionsAndTokens } from '../../jobs/expire-sessions-and-tokens.job.js';
import type { JobDeps } from '../../jobs/job.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { reportTarget, staffPost, COPYRIGHT_NOTICE } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { everyValue } from '../helpers/scan.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

const DAY = 24 * 60 * 60 * 1000;

describe('moderation tools: suspension, upload bans, bulk decisions, album reports', function () {
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

  const auditOf = async (actor: TestUser) => (await actor.client.get(`/admin/audit?actor=${actor.username}`, { Accept: 'application/json' })).json().entries as Array<{ action: string; targetId: string; reason: string | null; detail: Record<string, unknown> }>;
  const login = (user: TestUser) => new WebClient(app.url).post('/login', { login: user.username, password: user.password }, { json: true });

  it('suspending the uploader ends their sessions, refuses login with the reason, and hides their profile', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await reportTarget(app, image.id, { reason: 'spam' });
    expect((await owner.client.get(`/u/${owner.username}`)).status).to.equal(200);
    expectJsonError(await staffPost(moderator, `/admin/images/${image.id}/suspend-uploader`, { reason: '' }), 400, 'reason_required');
    expect((await staffPost(moderator, `/admin/images/${image.id}/suspend-uploader`, { reason: 'Spam campaign' })).status).to.equal(200);

    // The live session stops working at once.
    expect((await owner.client.get('/account/images', { Accept: 'application/json' })).status).to.equal(401);
    const refused = await login(owner);
    expect(expectJsonError(refused, 403, 'account_suspended')).to.include('Spam campaign');
    // A wrong password learns nothing about the suspension.
    expect(expectJsonError(await new WebClient(app.url).post('/login', { login: owner.username, password: 'wrong password here' }, { json: true }), 403, 'bad_login')).not.to.include('suspended');
    expect((await rawRequest(`${app.url}/u/${owner.username}`)).status).to.equal(404);
    // Their images stay served until decided one by one.
    expect((await rawRequest(image.url)).status).to.equal(200);
    const [entry] = (await auditOf(moderator)).filter((e) => e.action === 'user.suspend');
    expect(entry).to.include({ targetId: owner.id, reason: 'Spam campaign' });

    // A moderator cannot suspend staff, nor themselves.
    const admin = await staffUser(app, 'admin');
    const staffImage = (await ownerUpload(admin, await fixtures.png())).json();
    expectJsonError(await staffPost(moderator, `/admin/images/${staffImage.id}/suspend-uploader`, { reason: 'x' }), 403, 'staff_target');
    expect((await app.db('users').where({ id: admin.id }).first()).suspended_at).to.equal(null);
    const guestImage = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expectJsonError(await staffPost(moderator, `/admin/images/${guestImage.id}/suspend-uploader`, { reason: 'x' }), 400, 'guest_upload');
    expect((await owner.client.get('/admin/reports')).status).to.equal(404);
  });

  it('banning the uploader’s address refuses uploads from it until the ban ends; the audit log never holds the address', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await reportTarget(app, image.id, { reason: 'spam' });
    expectJsonError(await staffPost(moderator, `/admin/images/${image.id}/ban-uploader`, { days: '91', reason: 'x' }), 400, 'bad_ban_days');
    expectJsonError(await staffPost(moderator, `/admin/images/${image.id}/ban-uploader`, { days: 'soon', reason: 'x' }), 400, 'bad_ban_days');
    const banned = await staffPost(moderator, `/admin/images/${image.id}/ban-uploader`, { days: '7', reason: 'Spam from this address' });
    expect(banned.status).to.equal(200);
    const [ban] = await app.db('ip_bans');
    expect(ban.cidr).to.equal('127.0.0.1/32');

    const refused = await upload(app.url, { bytes: await fixtures.png() });
    expect(expectJsonError(refused, 403, 'upload_banned')).to.include(new Date(banned.json().expiresAt).toISOString().slice(0, 10));
    expectJsonError(await ownerUpload(owner, await fixtures.png()), 403, 'upload_banned');
    expect(await app.db('images')).to.have.length(1);
    expect(await app.db('security_log').where({ event: 'upload.refused' })).to.have.length(2);
    // Viewing is never blocked.
    expect((await rawRequest(image.pageUrl)).status).to.equal(200);

    const audit = (await auditOf(moderator)).find((e) => e.action === 'ip_ban.add')!;
    expect(audit.targetId).to.equal(ban.id);
    expect(JSON.stringify(await app.db('audit_log').where({ actor_id: moderator.id }))).not.to.include('127.0.0');

    // The expiry job deletes the ban once it has ended, and uploads work again.
    const deps = { db: app.db, repos: createRepos(app.db) } as unknown as JobDeps;
    expect((await expireSessionsAndTokens.run(deps, new Date(Date.now() + 6 * DAY))).detail).to.include({ ipBans: 0 });
    expect((await expireSessionsAndTokens.run(deps, new Date(Date.now() + 8 * DAY))).detail).to.include({ ipBans: 1 });
    expect(await app.db('ip_bans')).to.deep.equal([]);
    expect((await upload(app.url, { bytes: await fixtures.png() })).status).to.equal(201);
  });

  it('the bans page adds, checks and lifts address and range bans', async () => {
    const add = (cidr: string, days = '3') => moderator.client.post('/admin/bans', { cidr, days, reason: 'abuse' }, { csrfPage: '/admin/bans', json: true });
    expectJsonError(await add('not-an-address'), 400, 'bad_cidr');
    expectJsonError(await add('10.0.0.0/33'), 400, 'bad_cidr');
    expectJsonError(await add('10.0.0.0/4'), 400, 'cidr_too_wide');
    expectJsonError(await add('2001:db8::/8'), 400, 'cidr_too_wide');
    expectJsonError(await add('203.0.113.0/24', '0'), 400, 'bad_ban_days');
    expect((await add('2001:db8::/48')).status).to.equal(201);
    expect((await add('203.0.113.0/24')).status).to.equal(201);
    expect((await upload(app.url, { bytes: await fixtures.png() })).status, 'other ranges do not touch this client').to.equal(201);
    const ban = (await add('127.0.0.0/8')).json().ban;
    expectJsonError(await upload(app.url, { bytes: await fixtures.png() }), 403, 'upload_banned');
    const page = (await moderator.client.get('/admin/bans')).body.toString();
    expect(page).to.include('127.0.0.0/8').and.include('2001:db8::/48');
    expect((await moderator.client.post(`/admin/bans/${ban.id}/lift`, {}, { csrfPage: '/admin/bans', json: true })).status).to.equal(200);
    expect((await upload(app.url, { bytes: await fixtures.png() })).status).to.equal(201);
    expectJsonError(await moderator.client.post(`/admin/bans/${ban.id}/lift`, {}, { csrfPage: '/admin/bans', json: true }), 404, 'not_found');
    expect((await owner.client.get('/admin/bans')).status).to.equal(404);
    expect((await new WebClient(app.url).get('/admin/bans')).status).to.equal(404);
    expect((await moderator.client.post('/admin/bans', { cidr: '198.51.100.1', days: '1' }, { csrf: false })).status, 'CSRF').to.equal(403);
    expect((await auditOf(moderator)).map((e) => e.action)).to.include.members(['ip_ban.add', 'ip_ban.lift']);
  });

  it('bulk: one decision for many images, each audited; remove needs a fresh password; failures are listed', async () => {
    const images = [];
    for (let i = 0; i < 3; i++) images.push((await upload(app.url, { bytes: await fixtures.png() })).json());
    for (const image of images) await reportTarget(app, image.id, { reason: 'spam' });
    const ids = images.map((i) => ['ids', i.id] as [string, string]);
    expectJsonError(await staffPost(moderator, '/admin/images/bulk', [...ids, ['action', 'hide']]), 400, 'reason_required');
    expect((await rawRequest(images[0].url)).status, 'nothing changed').to.equal(200);
    expectJsonError(await staffPost(moderator, '/admin/images/bulk', [['action', 'hide'], ['reason', 'x']]), 400, 'nothing_selected');
    expectJsonError(await staffPost(moderator, '/admin/images/bulk', [...ids, ['ids', '../etc'], ['action', 'hide'], ['reason', 'x']]), 400, 'bad_id');
    expectJsonError(await staffPost(moderator, '/admin/images/bulk', [...Array.from({ length: 101 }, (_, n) => ['ids', `AAAAAAAAA${String(n).padStart(3, '0')}`] as [string, string]), ['action', 'hide'], ['reason', 'x']]), 400, 'too_many');

    const hidden = await staffPost(moderator, '/admin/images/bulk', [...ids.slice(0, 2), ['ids', 'AAAAAAAAAAAA'], ['action', 'hide'], ['reason', 'Spam wave']]);
    expect(hidden.status).to.equal(200);
    expect(hidden.json().done).to.equal(2);
    expect(hidden.json().failed.map((f: { imageId: string }) => f.imageId)).to.deep.equal(['AAAAAAAAAAAA']);
    expect((await rawRequest(images[0].url)).status).to.equal(404);
    expect((await rawRequest(images[1].url)).status).to.equal(404);
    expect((await rawRequest(images[2].url)).status).to.equal(200);
    expect((await auditOf(moderator)).filter((e) => e.action === 'image.hide').map((e) => e.targetId)).to.have.members([images[0].id, images[1].id]);

    expectJsonError(await staffPost(moderator, '/admin/images/bulk', [...ids, ['action', 'remove'], ['reason', 'Spam wave']]), 403, 'reauth_required');
    await reauth(moderator);
    const removed = await staffPost(moderator, '/admin/images/bulk', [...ids, ['action', 'remove'], ['reason', 'Spam wave']]);
    expect(removed.json()).to.deep.equal({ done: 3, failed: [] });
    expect(await app.db('images')).to.deep.equal([]);
    expect(await app.storedKeys()).to.deep.equal([]);
    // The browser form answers with a summary page, naming what could not be done.
    const html = await moderator.client.post('/admin/images/bulk', [...ids, ['action', 'hide'], ['reason', 'again']], { csrfPage: '/admin/reports' });
    expect(html.status).to.equal(200);
    expect(html.body.toString()).to.include('0 of 3 images decided').and.include(images[0].id);
  });

  it('albums can be reported; hiding one takes its page down for everyone, and its owner sees why', async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    const created = await owner.client.post('/account/albums', { title: 'Holiday' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(created.headers.location))![1]!;
    await owner.client.post(`/account/albums/${albumId}/images`, [['image_id', image.id]], { csrfPage: `/account/albums/${albumId}` });
    expect((await rawRequest(`${app.url}/a/${albumId}`)).body.toString()).to.include(`href="/report/album/${albumId}"`);
    expect((await rawRequest(`${app.url}/report/album/${albumId}`)).status).to.equal(200);
    expectJsonError(await reportTarget(app, albumId, { reason: 'boring' }, 'album'), 400, 'bad_reason');
    expect((await reportTarget(app, albumId, { reason: 'harassment', details: 'Photos of my house' }, 'album')).status).to.equal(201);
    expect((await rawRequest(`${app.url}/report/album/AAAAAAAAAAAA`)).status).to.equal(404);
    const [row] = await app.db('reports');
    expect(row).to.include({ album_id: albumId, image_id: null, reason: 'harassment' });
    expect(JSON.parse((await app.db('security_log').where({ event: 'abuse.report' }).first()).detail)).to.include({ albumId });

    const queue = (await moderator.client.get('/admin/reports', { Accept: 'application/json' })).json();
    expect(queue.groups).to.deep.equal([]);
    expect(queue.albumGroups).to.have.length(1);
    expect(queue.albumGroups[0]).to.deep.include({ albumId });
    expect(queue.albumGroups[0].album.images.map((i: { id: string }) => i.id)).to.deep.equal([image.id]);
    expect((await moderator.client.get('/admin/reports')).body.toString()).to.include(`id="album-group-${albumId}"`);

    const moderateAlbum = (action: string, reason = '') => staffPost(moderator, `/admin/albums/${albumId}/moderate`, { action, reason });
    expectJsonError(await moderateAlbum('hide'), 400, 'reason_required');
    expectJsonError(await moderateAlbum('burn', 'x'), 400, 'bad_action');
    expect((await moderateAlbum('hide', 'Doxxing')).status).to.equal(200);
    expect((await rawRequest(`${app.url}/a/${albumId}`)).status).to.equal(404);
    expect((await owner.client.get(`/a/${albumId}`)).status, 'the owner too').to.equal(404);
    expect((await rawRequest(`${app.url}/report/album/${albumId}`)).status).to.equal(404);
    expect((await rawRequest(image.pageUrl)).status, 'its images keep their own state').to.equal(200);
    const notices = (await owner.client.get('/account/images', { Accept: 'application/json' })).json().moderation;
    expect(notices).to.have.length(1);
    expect(notices[0]).to.include({ albumId, action: 'hidden', reason: 'Doxxing' });
    expect((await owner.client.get('/account/images')).body.toString()).to.include('Doxxing');
    expect((await app.db('reports').first()).status).to.equal('actioned');
    expect((await moderateAlbum('clear')).status).to.equal(200);
    expect((await rawRequest(`${app.url}/a/${albumId}`)).status).to.equal(200);
    expect((await auditOf(moderator)).map((e) => e.action)).to.include.members(['album.hide', 'album.clear']);
  });
});

describe('copyright notices, counter-notices and the repeat-infringer policy', function () {
  this.timeout(60_000);
  let app: TestApp;
  let moderator: TestUser;
  let owner: TestUser;
  afterEach(() => app?.close());
  const start = async (env: Record<string, string> = {}) => {
    app = await startTestApp(env);
    moderator = await staffUser(app, 'moderator');
    owner = await signedInUser(app);
  };
  /** An image of the owner's with a copyright notice, hidden by the moderator: one upheld notice. */
  const upheld = async () => {
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    expect((await reportTarget(app, image.id, COPYRIGHT_NOTICE)).status).to.equal(201);
    expect((await staffPost(moderator, `/admin/images/${image.id}/moderate`, { action: 'hide', reason: 'Copyright notice from Ann Owner' })).status).to.equal(200);
    return image;
  };

  it('three upheld notices within the window suspend the account; a counter-notice accepted takes a strike back', async () => {
    await start();
    const first = await upheld();
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
    // A notice answered with "sensitive" is not upheld, and a dismissed one is not either.
    const other = (await ownerUpload(owner, await fixtures.png())).json();
    await reportTarget(app, other.id, COPYRIGHT_NOTICE);
    await staffPost(moderator, `/admin/images/${other.id}/moderate`, { action: 'sensitive', reason: 'x' });
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);

    // The owner answers the first one with a counter-notice from My images.
    const mine = (await owner.client.get('/account/images', { Accept: 'application/json' })).json().moderation;
    expect(mine.find((m: { imageId: string }) => m.imageId === first.id)).to.include({ canCounter: true });
    expect((await owner.client.get('/account/images')).body.toString()).to.include(`href="/account/counter-notice/${first.id}"`);
    const path = `/account/counter-notice/${first.id}`;
    const fields = { name: 'Olive Owner', contact: 'olive@example.test', statement: 'I took this photo myself.', signature: 'Olive Owner', good_faith: 'yes', consent: 'yes' };
    expectJsonError(await owner.client.post(path, { ...fields, consent: '' }, { csrfPage: path, json: true }), 400, 'incomplete_counter_notice');
    expect((await owner.client.post(path, fields, { csrfPage: path, json: true })).status).to.equal(201);
    expect((await owner.client.get(path)).status, 'answered once').to.equal(404);
    const stranger = await signedInUser(app);
    expect((await stranger.client.get(path)).status, 'not theirs').to.equal(404);
    expect((await owner.client.get(`/account/counter-notice/${other.id}`)).status, 'not upheld').to.equal(404);

    const notices = (await moderator.client.get('/admin/copyright', { Accept: 'application/json' })).json().notices;
    expect(notices.map((n: { status: string }) => n.status).sort()).to.deep.equal(['actioned', 'actioned', 'actioned']);
    const counter = notices.find((n: { imageId: string }) => n.imageId === first.id).counterNotices[0];
    expect(counter).to.include({ status: 'received', name: 'Olive Owner' });
    expect((await moderator.client.get('/admin/copyright')).body.toString()).to.include('I took this photo myself.');
    expectJsonError(await staffPost(moderator, `/admin/counter-notices/${counter.id}`, { decision: 'maybe' }), 400, 'bad_decision');
    expect((await staffPost(moderator, `/admin/counter-notices/${counter.id}`, { decision: 'accept', note: 'Licence shown' })).status).to.equal(200);
    expectJsonError(await staffPost(moderator, `/admin/counter-notices/${counter.id}`, { decision: 'reject' }), 400, 'already_decided');
    expect((await app.db('reports').where({ image_id: first.id }).first()).status).to.equal('reversed');
    expect((await staffPost(moderator, `/admin/images/${first.id}/moderate`, { action: 'restore' })).status).to.equal(200);
    expect((await rawRequest(first.url)).status).to.equal(200);

    // Two strikes stand; the next upheld notice makes three and suspends the account.
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
    await upheld();
    const user = await app.db('users').where({ id: owner.id }).first();
    expect(user.suspended_at).not.to.equal(null);
    expect(user.suspended_reason).to.include('Repeat copyright infringement: 3');
    const entry = (await app.db('audit_log').where({ action: 'user.suspend', target_id: owner.id }).first()) as { actor_id: string; detail: string };
    expect(entry.actor_id).to.equal(moderator.id);
    expect(JSON.parse(entry.detail)).to.deep.equal({ policy: 'repeat_infringer', strikes: 3 });
    expect(expectJsonError(await new WebClient(app.url).post('/login', { login: owner.username, password: owner.password }, { json: true }), 403, 'account_suspended')).to.include('Repeat copyright infringement');
  });

  it('the policy is configurable: strikes outside the window do not count, and 0 turns it off', async () => {
    await start({ REPEAT_INFRINGER_STRIKES: '2', REPEAT_INFRINGER_WINDOW_DAYS: '30' });
    await upheld();
    // Move the first strike out of the window.
    await app.db('reports').update({ resolved_at: new Date(Date.now() - 31 * DAY) });
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).not.to.equal(null);
    await app.close();

    await start({ REPEAT_INFRINGER_STRIKES: '0' });
    for (let i = 0; i < 4; i++) await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
    expect((await moderator.client.get('/admin/copyright')).body.toString()).to.include('no automatic suspension');
  });

  it('staff record a counter-notice that came by post; a purge erases the names in it and unlinks the strikes', async () => {
    await start();
    const image = await upheld();
    const notice = (await app.db('reports').where({ image_id: image.id }).first()) as { id: string };
    const fields = { name: 'Olive Owner', contact: '1 Main Street', statement: 'Mine.', signature: 'Olive Owner', good_faith: 'yes', consent: 'yes' };
    expect((await moderator.client.post(`/admin/copyright/${notice.id}/counter-notice`, fields, { csrfPage: '/admin/copyright', json: true })).status).to.equal(200);
    expectJsonError(await moderator.client.post(`/admin/copyright/${notice.id}/counter-notice`, fields, { csrfPage: '/admin/copyright', json: true }), 400, 'counter_notice_pending');
    expectJsonError(await moderator.client.post('/admin/copyright/nope/counter-notice', fields, { csrfPage: '/admin/copyright', json: true }), 404, 'not_found');
    expect((await app.db('audit_log').where({ action: 'counter_notice.record', actor_id: moderator.id })).length).to.equal(1);
    // While one waits, the owner cannot file another.
    expect((await owner.client.get(`/account/counter-notice/${image.id}`)).status).to.equal(404);
    await app.db('counter_notices').update({ user_id: owner.id });

    // An admin purges the account through a privacy request.
    const admin = await staffUser(app, 'admin');
    const request = (await admin.client.post('/admin/privacy-requests', { kind: 'erasure', requester: owner.username }, { csrfPage: '/admin/privacy-requests', json: true })).json().request;
    await reauth(admin);
    expect((await admin.client.post(`/admin/privacy-requests/${request.id}/purge`, {}, { csrfPage: '/admin/privacy-requests', json: true })).status).to.equal(200);
    expect(await app.db('users').where({ id: owner.id })).to.deep.equal([]);
    const [counter] = await app.db('counter_notices');
    expect(counter).to.include({ user_id: null, name: '[erased]', contact: '[erased]', signature: '[erased]', statement: '[erased]', status: 'received' });
    expect((await app.db('reports').first()).owner_id).to.equal(null);
    // Nothing outside the append-only audit log names the person; the audit log keeps only the random account id.
    const traces = (await everyValue(app)).filter((v) => [owner.id, owner.username, owner.email].some((n) => v.toLowerCase().includes(n.toLowerCase())));
    expect(traces.filter((v) => !v.startsWith('audit_log.'))).to.deep.equal([]);
    expect(traces.filter((v) => !v.startsWith('audit_log.target_id='))).to.deep.equal([]);
    expect((await owner.client.get('/admin/copyright')).status).to.equal(404);
  });

  it('many notices about one image are one strike; putting an image back takes its strike back; albums give none', async () => {
    await start({ REPEAT_INFRINGER_STRIKES: '2' });
    const strikes = async () => (await app.db('reports').where({ owner_id: owner.id, status: 'actioned', reason: 'copyright' }).distinct('image_id')).length;
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    for (let i = 0; i < 3; i++) expect((await reportTarget(app, image.id, COPYRIGHT_NOTICE)).status).to.equal(201);
    expect((await staffPost(moderator, `/admin/images/${image.id}/moderate`, { action: 'hide', reason: 'Three notices' })).status).to.equal(200);
    expect(await strikes()).to.equal(1);
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at, 'one image, one strike').to.equal(null);
    // Unhiding it (a mistake, or the claim withdrawn) reverses its notices.
    expect((await staffPost(moderator, `/admin/images/${image.id}/moderate`, { action: 'restore' })).status).to.equal(200);
    expect(await strikes()).to.equal(0);
    expect((await app.db('reports').where({ image_id: image.id })).map((r: { status: string }) => r.status)).to.deep.equal(['reversed', 'reversed', 'reversed']);
    // An album hidden on a copyright report is no strike (and has no image to answer for).
    const created = await owner.client.post('/account/albums', { title: 'Scans' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(created.headers.location))![1]!;
    await reportTarget(app, albumId, COPYRIGHT_NOTICE, 'album');
    expect((await staffPost(moderator, `/admin/albums/${albumId}/moderate`, { action: 'hide', reason: 'Scanned book' })).status).to.equal(200);
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
    expect((await owner.client.get('/account/images', { Accept: 'application/json' })).json().moderation.filter((m: { canCounter: boolean }) => m.canCounter)).to.have.length(1);
  });

  it('a counter-notice of 5000 characters in a non-Latin script is accepted, not cut off by the body limit', async () => {
    await start();
    const image = await upheld();
    const path = `/account/counter-notice/${image.id}`;
    const statement = 'Я сам сделал эту фотографию. '.repeat(200).slice(0, 5000);
    const res = await owner.client.post(path, { name: 'Олег', contact: 'oleg@example.test', statement, signature: 'Олег', good_faith: 'yes', consent: 'yes' }, { csrfPage: path, json: true });
    expect(res.status).to.equal(201);
    expect((await app.db('counter_notices').first()).statement).to.equal(statement.trim());
  });

  it('a moderator’s decision on a staff account’s image never suspends it automatically', async () => {
    await start({ REPEAT_INFRINGER_STRIKES: '1' });
    owner = await staffUser(app, 'moderator');
    await upheld();
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).to.equal(null);
  });
});

describe('moderation: who may use the new tools', function () {
  this.timeout(60_000);
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  it('users and guests get 404 on every new page and action', async () => {
    const user = await signedInUser(app);
    const guest = new WebClient(app.url);
    for (const path of ['/admin/bans', '/admin/copyright']) {
      expect((await user.client.get(path)).status, path).to.equal(404);
      expect((await guest.get(path)).status, path).to.equal(404);
    }
    const token = await user.client.csrfFrom('/account/images');
    for (const path of ['/admin/images/bulk', '/admin/albums/AAAAAAAAAAAA/moderate', '/admin/images/AAAAAAAAAAAA/suspend-uploader', '/admin/images/AAAAAAAAAAAA/ban-uploader', '/admin/bans', '/admin/copyright/x/counter-notice', '/admin/counter-notices/x']) {
      expect((await user.client.post(path, { action: 'hide', reason: 'x' }, { csrf: token })).status, path).to.equal(404);
    }
  });
});
