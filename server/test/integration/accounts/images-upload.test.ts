import { expect } from 'chai';
import { createRateLimits } from '../../../services/rate-limits.service.js';
import { fixtures } from '../../fixtures/images.js';
import { csrfOf, expectConsistentUsage, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError, expectNothingLeft, waitForEmptyTemp, watchCreations } from '../../helpers/assertions.js';
import { startFakeTurnstile, type FakeTurnstile } from '../../helpers/fake-turnstile.js';
import { upload } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

describe('accounts: uploads by a signed-in user', () => {
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
  });
  afterEach(() => app.close());

  it('goes through the same pipeline and records the image as the account\'s, unlisted, counted against the quota', async () => {
    const res = await ownerUpload(alice, await fixtures.jpegWithGps(), { filename: 'beach.jpg' });
    expect(res.status, res.body.toString()).to.equal(201);
    const body = res.json();
    expect(body).to.include({ mime: 'image/jpeg' });
    expect(body.deleteUrl).to.match(/\/delete\/\w{12}\/\w{24}$/);
    const row = await app.db('images').where({ id: body.id }).first();
    expect(row).to.include({ owner_id: alice.id, visibility: 'unlisted', title: null, original_name: 'beach.jpg' });
    const usage = await expectConsistentUsage(app, alice.id);
    expect(usage.used).to.equal(Number(row.size) + Number(row.thumb_size) + Number(row.display_size)).and.be.greaterThan(0);
    const log = await app.db('security_log').where({ event: 'image.upload' }).first();
    expect(log.user_id).to.equal(alice.id);

    // It is in My images, and the result page says so.
    const list = (await alice.client.get('/account/images', { Accept: 'application/json' })).json();
    expect(list.images.map((i: { id: string }) => i.id)).to.deep.equal([body.id]);
    const result = await alice.client.get(`/upload/${body.id}`);
    expect(result.body.toString()).to.include('href="/account/images"');
  });

  it('accepts the token in the X-CSRF-Token header, and a no-JavaScript form post (303 to the result page)', async () => {
    expect((await ownerUpload(alice, await fixtures.png(), { csrf: 'header' })).status).to.equal(201);
    const form = await ownerUpload(alice, await fixtures.png(), { json: false });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.match(/\/upload\/\w{12}$/);
    expect(await app.db('images').where({ owner_id: alice.id })).to.have.length(2);
  });

  it('puts the CSRF field first in the home page form, and only for signed-in users', async () => {
    const html = (await alice.client.get('/')).body.toString();
    const form = html.slice(html.indexOf('<form id="upload-form"'));
    expect(form.indexOf('name="_csrf"')).to.be.greaterThan(0).and.lessThan(form.indexOf('name="file"'));
    expect(html).to.include('My images');
    const guest = await new WebClient(app.url).get('/');
    expect(guest.body.toString()).not.to.include('name="_csrf"');
  });

  for (const [label, csrf] of [
    ['no token', false],
    ['a forged token', 'forged-token-value'],
    ['the token sent after the file', 'after'],
  ] as const) {
    it(`refuses ${label} with 403 csrf_failed and leaves no temp file, row, bytes or usage`, async () => {
      const res = await ownerUpload(alice, await fixtures.png(), { csrf });
      expectJsonError(res, 403, 'csrf_failed');
      await expectNothingLeft(app);
      expect(Number((await app.db('users').where({ id: alice.id }).first()).used_bytes)).to.equal(0);
    });
  }

  it('checks the token before the file part is written to disk', async () => {
    const watcher = watchCreations(app.tempDir);
    try {
      expectJsonError(await ownerUpload(alice, await fixtures.png(), { csrf: false }), 403, 'csrf_failed');
      expectJsonError(await ownerUpload(alice, await fixtures.png(), { csrf: 'forged-token-value' }), 403, 'csrf_failed');
      expect(await watcher.created(), 'files created in the temp folder').to.deep.equal([]);
    } finally {
      watcher.close();
    }
  });

  it('refuses a token that belongs to another session', async () => {
    const bob = await signedInUser(app);
    const bobsToken = await csrfOf(bob);
    expectJsonError(await ownerUpload(alice, await fixtures.png(), { csrf: bobsToken }), 403, 'csrf_failed');
    await expectNothingLeft(app);
  });

  it('keeps guest uploads unowned, unlisted and free of any account', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() });
    expect(res.status).to.equal(201);
    expect(await app.db('images').where({ id: res.json().id }).first()).to.include({ owner_id: null, visibility: 'unlisted' });
  });
});

describe('accounts: upload gates (Turnstile for guests, rate limits for both)', () => {
  let fake: FakeTurnstile;
  before(async () => {
    fake = await startFakeTurnstile();
  });
  after(() => fake.close());

  it('skips Turnstile for a signed-in upload and keeps it for guests', async () => {
    // Sign-up and login need the bot check too: sign in on a plain app, then carry the session (kept in the
    // shared database) over to the app behind Turnstile.
    const plain = await startTestApp();
    const signedIn = await signedInUser(plain).finally(() => plain.close());
    const app = await startTestApp({ TURNSTILE_SITE_KEY: '0x4AAAAAAAtestsitekey', TURNSTILE_SECRET_KEY: fake.secret, TURNSTILE_VERIFY_URL: fake.verifyUrl });
    try {
      const alice = { ...signedIn, client: new WebClient(app.url) };
      for (const [name, value] of signedIn.client.cookies) alice.client.cookies.set(name, value);
      fake.requests.length = 0;
      const res = await ownerUpload(alice, await fixtures.png());
      expect(res.status, res.body.toString()).to.equal(201);
      expect(fake.requests, 'siteverify is not called for an account').to.have.length(0);
      expect((await alice.client.get('/')).body.toString()).not.to.include('cf-turnstile');

      expectJsonError(await upload(app.url, { bytes: await fixtures.png() }), 400, 'turnstile_missing');
      const guest = await upload(app.url, { bytes: await fixtures.png() }, { token: fake.mint({ action: 'upload', hostname: '127.0.0.1' }) });
      expect(guest.status).to.equal(201);
    } finally {
      await app.close();
    }
  });

  it('limits uploads per account for users and per IP for guests, each on its own counter', async () => {
    const app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { uploadPerAccount: { points: 2 }, uploadPerIp: { points: 2 } }) });
    try {
      const alice = await signedInUser(app);
      const png = await fixtures.png();
      expect((await ownerUpload(alice, png)).status).to.equal(201);
      expect((await ownerUpload(alice, png)).status).to.equal(201);
      const limited = await ownerUpload(alice, png);
      expectJsonError(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);

      // The account's uploads did not spend the IP's points, and the guest's do not spend the account's.
      expect((await upload(app.url, { bytes: png })).status).to.equal(201);
      expect((await upload(app.url, { bytes: png })).status).to.equal(201);
      expectJsonError(await upload(app.url, { bytes: png }), 429, 'rate_limited');
      expect(await app.db('images')).to.have.length(4);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
      expect(await app.storedKeys()).to.have.length(12);
    } finally {
      await app.close();
    }
  });
});
