import { createContainer } from '../../../container.js';
import { expect } from 'chai';
import pino from 'pino';
import { createRepos } from '../../../db/repos.js';
import { JOBS } from '../../../jobs/index.js';
import { createScheduler } from '../../../jobs/scheduler.js';
import { purgeAccount, type AccountDeletionDeps } from '../../../services/account-deletion.service.js';
import { createMailer } from '../../../services/mailer.service.js';
import { recordPrivacyRequest } from '../../../services/privacy-requests.service.js';
import { fixtures } from '../../fixtures/images.js';
import { expectConsistentUsage, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError, until } from '../../helpers/assertions.js';
import { rawRequest, upload } from '../../helpers/http.js';
import { linkIn, startSmtp, type TestSmtp } from '../../helpers/smtp.js';
import { everyValue } from '../../helpers/scan.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

const DAY = 86_400_000;
const silent = pino({ level: 'silent' });

/** Every text-ish value in every application table, as "table.column=value" lines, to search for traces of a person. */
/** The account-deletion service's deps for a test app (mail goes to the log; the purge sends none). */
function deletionDeps(app: TestApp): AccountDeletionDeps {
  return {
    repos: createRepos(app.db),
    storage: app.storage,
    mailer: createMailer({ smtpUrl: undefined, from: 'x <x@example.test>', logger: silent }),
    logger: silent,
    publicUrl: app.url,
    purgeDays: 30,
    clock: () => new Date(),
  };
}

describe('accounts: deletion, grace period, restore and purge (promise 2)', function () {
  this.timeout(60_000);
  let smtp: TestSmtp;
  let app: TestApp;
  let alice: TestUser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    app = await startTestApp({ SMTP_URL: smtp.url, ACCOUNT_PURGE_DAYS: '30' });
    alice = await signedInUser(app, { username: 'alice_del', email: 'alice.del@example.test' });
    await smtp.waitFor('alice.del@example.test', /Confirm/);
    smtp.messages.length = 0;
  });
  afterEach(() => app.close());

  const deleteAccount = (user: TestUser, password: string) => user.client.post('/account/settings/delete', { current_password: password }, { csrfPage: '/account/settings' });
  const populate = async () => {
    const first = (await ownerUpload(alice, await fixtures.png())).json();
    const second = (await ownerUpload(alice, await fixtures.jpegWithGps())).json();
    const album = await alice.client.post('/account/albums', { title: 'Trip' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(album.headers.location))![1]!;
    await alice.client.post(`/account/albums/${albumId}/images`, [['image_id', first.id]], { csrfPage: `/account/albums/${albumId}` });
    return { first, second, albumId };
  };
  const logIn = async (user: TestUser) => {
    const client = new WebClient(app.url);
    const res = await client.post('/login', { login: user.username, password: user.password });
    return { client, res };
  };

  it('needs the current password; a wrong one changes nothing and says so beside the form', async () => {
    const { first } = await populate();
    const res = await deleteAccount(alice, 'not my password');
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/account/settings?failed=delete#danger-heading');
    const page = await alice.client.get('/account/settings?failed=delete');
    expect(page.body.toString()).to.include('Your current password is not correct, so nothing was deleted.');
    expect((await app.db('users').where({ id: alice.id }).first()).deletion_requested_at).to.equal(null);
    expect((await rawRequest(first.url)).status).to.equal(200);
    expectJsonError(await alice.client.post('/account/settings/delete', { current_password: 'nope' }, { csrfPage: '/account/settings', json: true }), 403, 'wrong_password');
    // Without a CSRF token nothing happens at all.
    expect((await alice.client.post('/account/settings/delete', { current_password: alice.password }, { csrf: false })).status).to.equal(403);
    expect((await app.db('users').where({ id: alice.id }).first()).deletion_requested_at).to.equal(null);
  });

  it('signs out everywhere and hides every image, album and the profile at once; logging in offers the restore, which brings it all back', async () => {
    const { first, second, albumId } = await populate();
    const other = await logIn(alice); // a second device
    const before = await expectConsistentUsage(app, alice.id);

    const res = await deleteAccount(alice, alice.password);
    expect(res.status).to.equal(200);
    expect(res.body.toString()).to.include('Your account will be deleted');
    expect(await app.db('sessions').where({ user_id: alice.id })).to.deep.equal([]);
    expect((await alice.client.get('/account/images')).headers.location).to.equal('/login');
    expect((await other.client.get('/account/images')).headers.location).to.equal('/login');
    for (const url of [first.url, first.pageUrl, second.url, second.thumbnailUrl]) expect((await rawRequest(url)).status, url).to.equal(404);
    expect((await rawRequest(`${app.url}/u/${alice.username}`)).status).to.equal(404);
    expect((await rawRequest(`${app.url}/a/${albumId}`)).status).to.equal(404);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.have.length(6);
    const mail = await smtp.waitFor('alice.del@example.test', /will be deleted/);
    const purgeDay = new Date(Date.now() + 30 * DAY).toISOString().slice(0, 10);
    expect(mail.text).to.include(purgeDay);
    expect(linkIn(mail.text, `${app.url}/account/keep/`)).to.match(/\/account\/keep\/[0-9A-Za-z]{32}$/);

    // Logging in during the grace period leads to the restore page; nothing else of the account works meanwhile.
    const back = await logIn(alice);
    expect(back.res.headers.location).to.equal('/account/restore');
    expect((await back.client.get('/account/images')).headers.location).to.equal('/account/restore');
    expectJsonError(await back.client.post('/account/albums', { title: 'x' }, { csrfPage: '/account/restore', json: true }), 403, 'account_pending_deletion');
    expectJsonError(await ownerUpload({ ...alice, client: back.client }, await fixtures.png(), { csrf: await back.client.csrfFrom('/account/restore') }), 403, 'account_pending_deletion');
    const restorePage = await back.client.get('/account/restore');
    expect(restorePage.body.toString()).to.include(purgeDay).and.include('Restore my account');

    const restored = await back.client.post('/account/restore', {}, { csrfPage: '/account/restore' });
    expect(restored.headers.location).to.equal('/account/images?done=restored');
    for (const url of [first.url, second.url, `${app.url}/u/${alice.username}`, `${app.url}/a/${albumId}`]) expect((await rawRequest(url)).status, url).to.equal(200);
    expect((await app.db('album_images').where({ album_id: albumId }).pluck('image_id'))).to.deep.equal([first.id]);
    expect(await app.recoveryKeys()).to.deep.equal([]);
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(before.used);
    expect((await app.db('users').where({ id: alice.id }).first()).deletion_requested_at).to.equal(null);
    // The emailed link is spent by the restore.
    const keep = linkIn(mail.text, `${app.url}/account/keep/`);
    expectJsonError(await new WebClient(app.url).post(keep.slice(app.url.length), {}, { csrfPage: keep.slice(app.url.length), json: true }), 400, 'bad_token');
  });

  it('the emailed link keeps the account: GET only asks, the POST restores', async () => {
    const { first } = await populate();
    await deleteAccount(alice, alice.password);
    const keep = linkIn((await smtp.waitFor('alice.del@example.test', /will be deleted/)).text, `${app.url}/account/keep/`).slice(app.url.length);
    const stranger = new WebClient(app.url);
    const page = await stranger.get(keep);
    expect(page.status).to.equal(200);
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    expect((await rawRequest(first.url)).status, 'a GET changes nothing').to.equal(404);
    const done = await stranger.post(keep, {}, { csrfPage: keep });
    expect(done.status).to.equal(200);
    expect(done.body.toString()).to.include('Your account is kept');
    expect((await rawRequest(first.url)).status).to.equal(200);
    expect((await rawRequest(`${app.url}/account/keep/${'A'.repeat(32)}`)).status).to.equal(200); // the same page for any well-formed token…
    expectJsonError(await stranger.post(`/account/keep/${'A'.repeat(32)}`, {}, { csrfPage: keep, json: true }), 400, 'bad_token'); // …which only then fails
    expect((await rawRequest(`${app.url}/account/keep/short`)).status).to.equal(404);
  });

  it('the purge job erases the account after ACCOUNT_PURGE_DAYS, not before, and no trace of the person remains', async () => {
    await app.close();
    app = await startTestApp({ SMTP_URL: smtp.url, ACCOUNT_PURGE_DAYS: '30', PAGE_VIEW_LOGGING: 'true' });
    alice = await signedInUser(app, { username: 'alice_pv', email: 'alice.pv@example.test' });
    await smtp.waitFor('alice.pv@example.test', /Confirm/);
    smtp.messages.length = 0;
    const { first, second } = await populate();
    // A guest upload she later claimed: its upload row names no user, only the image.
    const guest = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expect((await alice.client.post('/account/claim', { link: guest.deleteUrl }, { csrfPage: '/account/images', json: true })).status).to.equal(200);
    // A row about her image that names neither her nor the image in its detail: only image_id finds it.
    await createRepos(app.db).securityLog.insert({ event: 'abuse.report', ip: '198.51.100.7', imageId: first.id, detail: {} }, new Date());
    await alice.client.get('/account/images'); // a logged page view
    await until(async () => (await app.db('security_log').where({ event: 'page.view', user_id: alice.id })).length > 0, 'her page view in the security log');
    await app.db('consent_log').insert({ id: '00000000-0000-4000-8000-000000000001', user_id: alice.id, kind: 'marketing', value: 'yes', created_at: new Date() });
    const request = await recordPrivacyRequest(createRepos(app.db), { kind: 'restriction', receivedAt: new Date(), userId: alice.id, requester: alice.email, note: `asked by ${alice.email}` });
    const byMail = await recordPrivacyRequest(createRepos(app.db), { kind: 'objection', receivedAt: new Date(), requester: alice.email.toUpperCase() });
    await deleteAccount(alice, alice.password);
    await smtp.waitFor(alice.email, /will be deleted/);
    const deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
    let clock = new Date(Date.now() + 29 * DAY);
    const scheduler = () => createScheduler(deps, JOBS, { now: async () => clock });

    expect(await scheduler().run('purge-deleted-accounts')).to.deep.include({ status: 'ran', result: { items: 0 } });
    expect(await app.db('users').where({ id: alice.id })).to.have.length(1);

    clock = new Date(Date.now() + 31 * DAY);
    expect(await scheduler().run('purge-deleted-accounts')).to.deep.include({ status: 'ran', result: { items: 1 } });
    expect(await app.db('users').where({ id: alice.id })).to.deep.equal([]);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.deep.equal([]);

    const traces = (await everyValue(app)).filter((v) =>
      [alice.id, alice.username, alice.email, first.id, second.id, guest.id].some((needle) => v.toLowerCase().includes(needle.toLowerCase())),
    );
    expect(traces, 'values still naming the person or their images').to.deep.equal([]);
    expect(await app.db('security_log').whereIn('image_id', [first.id, second.id, guest.id]), 'rows about her images').to.deep.equal([]);
    expect(await app.db('security_log').where({ ip: '198.51.100.7' }), 'the row found by image_id alone').to.deep.equal([]);
    expect(await app.db('security_log').where({ event: 'account.purged' })).to.have.length(1);
    // The record of the request survives, anonymised.
    expect(await app.db('privacy_requests').where({ id: request.id }).first()).to.include({ kind: 'restriction', user_id: null, requester: null, note: null });
    expect(await app.db('privacy_requests').where({ id: byMail.id }).first()).to.include({ kind: 'objection', requester: null });
    // The login now fails as for anyone unknown, and a second run has nothing to do.
    expect((await logIn(alice)).res.status).to.equal(403);
    clock = new Date(clock.getTime() + 60_000);
    expect(await scheduler().run('purge-deleted-accounts')).to.deep.include({ status: 'ran', result: { items: 0 } });
  });

  it('staff can purge an account at once, skipping the grace period', async () => {
    const { first } = await populate();
    const deps = deletionDeps(app);
    expect(await purgeAccount(deps, alice.id, new Date())).to.equal(true);
    expect((await rawRequest(first.url)).status).to.equal(404);
    expect(await app.storedKeys()).to.deep.equal([]);
    expect(await app.recoveryKeys()).to.deep.equal([]);
    const traces = (await everyValue(app)).filter((v) => v.includes(alice.id) || v.toLowerCase().includes(alice.email));
    expect(traces).to.deep.equal([]);
    expect(await purgeAccount(deps, alice.id, new Date()), 'already gone').to.equal(false);
  });

  it('stays restorable for the whole grace period: the recovery reaper leaves a pending account’s images alone', async () => {
    const { first } = await populate();
    await deleteAccount(alice, alice.password);
    const deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
    // Day 20: past RECOVERY_DAYS (14), inside ACCOUNT_PURGE_DAYS (30).
    const day20 = new Date(Date.now() + 20 * DAY);
    expect(await createScheduler(deps, JOBS, { now: async () => day20 }).run('reap-recovery-store')).to.deep.include({ status: 'ran', result: { items: 0, detail: { reaped: 0, moved: 0 } } });
    expect(await app.recoveryKeys()).to.have.length(6);
    const back = await logIn(alice);
    await back.client.post('/account/restore', {}, { csrfPage: '/account/restore' });
    expect((await rawRequest(first.url)).status).to.equal(200);
  });

  it('the purge leaves an account alone that was restored after it was listed', async () => {
    const { first } = await populate();
    await deleteAccount(alice, alice.password);
    const cutoff = new Date(Date.now() + 1000);
    const back = await logIn(alice);
    await back.client.post('/account/restore', {}, { csrfPage: '/account/restore' });
    const deps = deletionDeps(app);
    expect(await purgeAccount(deps, alice.id, new Date(), { onlyIfPendingSince: cutoff })).to.equal(false);
    expect(await app.db('users').where({ id: alice.id })).to.have.length(1);
    expect((await rawRequest(first.url)).status).to.equal(200);
  });

  it('an image whose bytes were lost outside Pixbin does not keep the rest of the account from coming back', async () => {
    const { first, second } = await populate();
    await deleteAccount(alice, alice.password);
    const lost = (await app.recoveryKeys()).filter((k) => k.includes(second.id));
    for (const key of lost) await app.storage.delete(key);
    const back = await logIn(alice);
    const res = await back.client.post('/account/restore', {}, { csrfPage: '/account/restore', json: true });
    expect(res.status).to.equal(200);
    expect(res.json()).to.deep.equal({ restored: true, images: 1 });
    expect((await rawRequest(first.url)).status).to.equal(200);
    expect((await app.db('users').where({ id: alice.id }).first()).deletion_requested_at).to.equal(null);
  });
});
