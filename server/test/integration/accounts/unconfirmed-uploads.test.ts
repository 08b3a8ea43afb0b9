import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import sharp from 'sharp';
import { fixtures } from '../../fixtures/images.js';
import { csrfOf, expectConsistentUsage, ownerUpload, usageOfUser } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { expectJsonError, expectNothingLeft, until, waitForEmptyTemp } from '../../helpers/assertions.js';
import { loggedMailLink } from '../../helpers/logged-mail.js';
import { staffUser } from '../../helpers/staff.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

const MB = 1024 * 1024;

/** Issue 15, item 9: an account whose address was never confirmed gets UNVERIFIED_QUOTA_BYTES, not the full quota. */
describe('accounts: uploads before the email address is confirmed', function () {
  this.timeout(60_000);
  let app: TestApp;
  let png: Buffer;
  before(async () => {
    png = await fixtures.png(64, 48);
  });
  afterEach(() => app?.close());

  const apiUpload = (key: string, bytes: Buffer) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'photo.png');
    return api(app, 'POST', '/api/v1/images', { key, form });
  };
  /** Follows the confirmation link the app wrote to its log (no SMTP_URL), as the owner would. */
  const confirm = async (user: TestUser) => {
    const link = await loggedMailLink(app.logs, user.email, `${app.url}/verify-email/`);
    const res = await user.client.post(link, {}, { json: true });
    expect(res.status, res.body.toString()).to.equal(200);
  };
  const page = async (user: TestUser, path: string) => {
    const res = await user.client.get(path);
    expect(res.status, path).to.equal(200);
    return res.body.toString();
  };

  describe('with the default UNVERIFIED_QUOTA_BYTES=0: no upload until the address is confirmed', () => {
    let carol: TestUser;
    beforeEach(async () => {
      app = await startTestApp();
      carol = await signedInUser(app, { confirmed: false });
    });

    it('refuses the web upload (JSON and plain form) with 403 email_unverified before reading the file, leaving nothing', async () => {
      const message = expectJsonError(await ownerUpload(carol, png), 403, 'email_unverified');
      expect(message).to.include('Confirm your email address to upload').and.include(carol.email).and.include('/account/settings');
      const html = await ownerUpload(carol, png, { json: false });
      expect(html.status).to.equal(403);
      expect(html.body.toString()).to.include('Confirm your email address to upload');
      // Refused before the body is read: a file processing would refuse as 415 gets the same answer.
      expectJsonError(await ownerUpload(carol, fixtures.htmlAsPng()), 403, 'email_unverified');
      await expectNothingLeft(app);
      expect((await usageOfUser(app, carol.id)).used).to.equal(0);
    });

    it('refuses the API upload with problem+json 403 email_unverified, documented; /me says why the limit is 0', async () => {
      const { key } = await apiKeyFor(app, carol);
      const res = await apiUpload(key, png);
      expect(res.status).to.equal(403);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(res.json).to.include({ status: 403, code: 'email_unverified', type: `${app.url}/api/docs#error-email_unverified` });
      expect(res.json.detail).to.include(carol.email);
      await expectNothingLeft(app);
      const me = await api(app, 'GET', '/api/v1/me', { key });
      expect(me.json).to.include({ email_verified: false });
      expect(me.json.quota).to.deep.equal({ used_bytes: 0, limit_bytes: 0 });
      expect((await api(app, 'GET', '/api/docs')).text).to.include('id="error-email_unverified"');
    });

    it('shows a notice with a resend button instead of the drop zone, on the home page, My images and Settings', async () => {
      const home = await page(carol, '/');
      expect(home).to.include('id="unconfirmed-notice"').and.include('Confirm your email address to upload').and.include(carol.email);
      expect(home).to.include('action="/account/settings/verification"');
      expect(home).not.to.include('id="upload-form"').and.not.include('id="dropzone"');
      const mine = await page(carol, '/account/images');
      expect(mine).to.include('id="unconfirmed-notice"').and.not.include('id="quota-meter"');
      const usage = (await carol.client.get('/account/images', { Accept: 'application/json' })).json().usage;
      expect(usage).to.include({ used: 0, quota: 0, confirmedQuota: app.config.defaultQuotaBytes, limitedUntilConfirmed: true, mustConfirm: true });
      expect(await page(carol, '/account/settings')).to.include('id="upload-allowance"').and.include('you cannot upload images');

      // The button on the home page sends a fresh link.
      const token = /name="_csrf" value="([^"]+)"/.exec(home)![1]!;
      const first = await loggedMailLink(app.logs, carol.email, `${app.url}/verify-email/`);
      const resend = await carol.client.post('/account/settings/verification', {}, { csrf: token });
      expect(resend.status).to.equal(303);
      await until(async () => (await loggedMailLink(app.logs, carol.email, `${app.url}/verify-email/`)) !== first, 'a second confirmation link');
    });

    it('lets the account upload at once once the address is confirmed, on the web and the API, with its full quota', async () => {
      const { key } = await apiKeyFor(app, carol);
      expectJsonError(await ownerUpload(carol, png), 403, 'email_unverified');
      await confirm(carol);
      expect((await ownerUpload(carol, png)).status).to.equal(201);
      expect((await apiUpload(key, png)).status).to.equal(201);
      const usage = await expectConsistentUsage(app, carol.id);
      expect(usage.rows).to.equal(2);
      const me = await api(app, 'GET', '/api/v1/me', { key });
      expect(me.json).to.include({ email_verified: true });
      expect(me.json.quota).to.deep.equal({ used_bytes: usage.used, limit_bytes: app.config.defaultQuotaBytes });
      const home = await page(carol, '/');
      expect(home).to.include('id="upload-form"').and.not.include('id="unconfirmed-notice"');
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
    });

    it('keeps what an unconfirmed account stored under a more generous setting, and refuses more until it is confirmed', async () => {
      // The same database and store under an earlier configuration (say, before an upgrade) that let it upload.
      const generous = await startTestApp({ UNVERIFIED_QUOTA_BYTES: String(10 * MB) });
      try {
        const there = new WebClient(generous.url);
        expect((await there.post('/login', { login: carol.username, password: carol.password })).status).to.equal(303);
        expect((await ownerUpload({ ...carol, client: there }, png)).status).to.equal(201);
      } finally {
        await generous.close();
      }
      const stored = await app.storedKeys();
      expect(stored).to.have.length(3);
      expectJsonError(await ownerUpload(carol, png), 403, 'email_unverified');
      expect(await app.storedKeys()).to.deep.equal(stored);
      expect((await carol.client.get('/account/images', { Accept: 'application/json' })).json().images).to.have.length(1);
      expect((await expectConsistentUsage(app, carol.id)).rows).to.equal(1);
    });

    it('lets an admin mark the address as confirmed, audited; the account can upload at once', async () => {
      const admin = await staffUser(app, 'admin');
      const profile = await page(admin, `/admin/users/${carol.id}`);
      expect(profile).to.include('(not confirmed)').and.include('until the address is confirmed, no uploads').and.include('Mark email as confirmed');
      const act = (csrf = true) => admin.client.post(`/admin/users/${carol.id}/confirm-email`, {}, { csrfPage: '/admin', json: true, ...(csrf ? {} : { csrf: false }) });
      expect((await act(false)).status, 'without the CSRF token').to.equal(403);
      expect((await act()).json()).to.deep.equal({ emailConfirmed: true, changed: true });
      expect((await act()).json(), 'twice is harmless').to.deep.equal({ emailConfirmed: true, changed: false });
      const audit = await app.db('audit_log').where({ action: 'user.email_confirmed', actor_id: admin.id });
      expect(audit.map((e: { target_id: string }) => e.target_id)).to.deep.equal([carol.id]);
      expect(JSON.stringify(audit), 'the audit trail keeps no address').not.to.include(carol.email);
      expect(await page(admin, `/admin/users/${carol.id}`)).to.include('(confirmed)').and.not.include('Mark email as confirmed');
      expect((await ownerUpload(carol, png)).status).to.equal(201);
    });

    it('hides the action from moderators and plain accounts (404)', async () => {
      const moderator = await staffUser(app, 'moderator');
      const other = await signedInUser(app);
      for (const user of [moderator, other]) {
        const res = await user.client.post(`/admin/users/${carol.id}/confirm-email`, {}, { csrf: await csrfOf(user), json: true });
        expect(res.status).to.equal(404);
      }
      expect((await app.db('users').where({ id: carol.id }).first()).email_verified_at).to.equal(null);
    });
  });

  describe('with UNVERIFIED_QUOTA_BYTES=1 MB: a small allowance until the address is confirmed', () => {
    let dave: TestUser;
    let big: Buffer;
    before(async () => {
      // Random pixels do not compress: about 1.1 MB as stored, more than the whole allowance.
      big = await sharp(randomBytes(600 * 600 * 3), { raw: { width: 600, height: 600, channels: 3 } }).png().toBuffer();
    });
    beforeEach(async () => {
      app = await startTestApp({ UNVERIFIED_QUOTA_BYTES: String(MB) });
      dave = await signedInUser(app, { confirmed: false });
    });

    it('takes a small upload, refuses one beyond the allowance with 413 quota_exceeded and leaves nothing of it; confirming lifts it', async () => {
      expect(await page(dave, '/')).to.include('id="upload-form"').and.include('Until you confirm your email address, you can store up to 1.0 MB');
      expect((await ownerUpload(dave, png)).status).to.equal(201);
      const afterOne = await expectConsistentUsage(app, dave.id);
      const stored = await app.storedKeys();
      // Admitted (there is room left), then refused when its bytes are reserved, so what it stored is deleted again.
      const message = expectJsonError(await ownerUpload(dave, big), 413, 'quota_exceeded');
      expect(message).to.match(/only .* of the 1\.0 MB you can store before confirming your email address is free/).and.include(dave.email);
      expect(await app.storedKeys()).to.deep.equal(stored);
      expect(await expectConsistentUsage(app, dave.id)).to.deep.equal(afterOne);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
      const { key } = await apiKeyFor(app, dave);
      expect((await api(app, 'GET', '/api/v1/me', { key })).json.quota).to.deep.equal({ used_bytes: afterOne.used, limit_bytes: MB });
      const problem = await apiUpload(key, big);
      expect(problem.status).to.equal(413);
      expect(problem.json.code).to.equal('quota_exceeded');

      await confirm(dave);
      expect((await ownerUpload(dave, big)).status).to.equal(201);
      expect((await expectConsistentUsage(app, dave.id)).rows).to.equal(2);
      expect(await page(dave, '/')).not.to.include('id="unconfirmed-notice"');
    });

    it('refuses an account already at its allowance before reading the file, saying why', async () => {
      await app.db('users').where({ id: dave.id }).update({ used_bytes: MB });
      const message = expectJsonError(await ownerUpload(dave, fixtures.htmlAsPng()), 413, 'quota_exceeded');
      expect(message).to.include('Until you confirm your email address you can store 1.0 MB').and.include('1.0 GB');
      expect(await page(dave, '/account/images')).to.include('id="unconfirmed-notice"').and.include('(0 B left)');
    });

    it('never lets concurrent uploads overshoot the allowance', async () => {
      const medium = await fixtures.png(200, 150);
      expect((await ownerUpload(dave, medium)).status).to.equal(201);
      const cost = (await usageOfUser(app, dave.id)).used;
      const fit = Math.floor((MB - cost) / cost);
      const responses = await Promise.all(Array.from({ length: fit + 4 }, () => ownerUpload(dave, medium)));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 201), statuses.join(',')).to.have.length(fit);
      expect(statuses.filter((s) => s === 413)).to.have.length(4);
      const usage = await expectConsistentUsage(app, dave.id);
      expect(usage.used).to.be.at.most(MB).and.equal((fit + 1) * cost);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
    });
  });
});
