import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { expectJsonError, expectNothingLeft, watchCreations } from '../helpers/assertions.js';
import { startFakeTurnstile, TEST_SECRETS, DUMMY_TOKEN, type FakeTurnstile } from '../helpers/fake-turnstile.js';
import { multipart, rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('upload behind Turnstile', () => {
  let fake: FakeTurnstile;
  let app: TestApp;
  before(async () => {
    fake = await startFakeTurnstile();
  });
  after(() => fake.close());
  beforeEach(async () => {
    fake.mode = 'ok';
    fake.requests.length = 0;
    app = await startTestApp({
      TURNSTILE_SITE_KEY: '0x4AAAAAAAtestsitekey',
      TURNSTILE_SECRET_KEY: fake.secret,
      TURNSTILE_VERIFY_URL: fake.verifyUrl,
      TURNSTILE_TIMEOUT_MS: '500',
    });
  });
  afterEach(() => app.close());

  const token = () => fake.mint({ action: 'upload', hostname: '127.0.0.1' });

  it('stores the image when the token verifies, sending the secret and client IP to siteverify', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() }, { token: token() });
    expect(res.status, res.body.toString()).to.equal(201);
    expect(fake.requests).to.have.length(1);
    expect(fake.requests[0]).to.include({ secret: fake.secret, remoteip: '127.0.0.1' });
  });

  it('also verifies a token sent after the file', async () => {
    const res = await upload(app.url, { bytes: await fixtures.png() }, { extraParts: [{ name: 'cf-turnstile-response', value: token() }] });
    expect(res.status, res.body.toString()).to.equal(201);
    expect(fake.requests).to.have.length(1);
  });

  it('answers 400 turnstile_missing without a token, and never calls siteverify', async () => {
    expect(expectJsonError(await upload(app.url, { bytes: await fixtures.png() }), 400, 'turnstile_missing')).to.match(/bot check/);
    expect(fake.requests).to.have.length(0);
    await expectNothingLeft(app);
  });

  it('answers 403 turnstile_failed for a token Cloudflare never issued', async () => {
    expectJsonError(await upload(app.url, { bytes: await fixtures.png() }, { token: 'forged.token' }), 403, 'turnstile_failed');
    await expectNothingLeft(app);
  });

  it('answers 403 turnstile_failed for a token solved for another site', async () => {
    const foreign = fake.mint({ action: 'upload', hostname: 'evil.example' });
    expectJsonError(await upload(app.url, { bytes: await fixtures.png() }, { token: foreign }), 403, 'turnstile_failed');
    await expectNothingLeft(app);
  });

  it('answers 403 turnstile_replayed when a token is used twice, and stores only the first upload', async () => {
    const once = token();
    expect((await upload(app.url, { bytes: await fixtures.png() }, { token: once })).status).to.equal(201);
    const again = await upload(app.url, { bytes: await fixtures.png() }, { token: once });
    expect(expectJsonError(again, 403, 'turnstile_replayed')).to.match(/already used/);
    expect(Number((await app.db('images').count({ n: '*' }))[0]!.n)).to.equal(1);
  });

  it('does not write a file a bot sent after a failing token', async () => {
    // The token comes first, so the check runs before the file part is read: multer never creates a temp file.
    const big = Buffer.concat([await fixtures.png(), Buffer.alloc(2 * 1024 * 1024)]);
    const { body, contentType } = multipart([
      { name: 'cf-turnstile-response', value: 'forged.token' },
      { name: 'file', value: big, filename: 'a.png' },
    ]);
    const watcher = watchCreations(app.tempDir);
    try {
      const res = await rawRequest(`${app.url}/upload`, {
        method: 'POST',
        headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' },
        body,
      });
      expectJsonError(res, 403, 'turnstile_failed');
      expect(await watcher.created(), 'files created in the temp folder').to.deep.equal([]);
    } finally {
      watcher.close();
    }
    await expectNothingLeft(app);
  });

  for (const [mode, label] of [
    ['down', 'answers HTTP 500'],
    ['hang', 'never answers'],
    ['garbage', 'answers with something that is not JSON'],
  ] as const) {
    it(`fails closed with 503 turnstile_unavailable when siteverify ${label}`, async () => {
      fake.mode = mode;
      const res = await upload(app.url, { bytes: await fixtures.png() }, { token: token() });
      expect(expectJsonError(res, 503, 'turnstile_unavailable')).to.match(/nothing was uploaded/);
      await expectNothingLeft(app);
    });
  }

  it('fails closed when siteverify cannot be reached at all', async () => {
    const offline = await startTestApp({
      TURNSTILE_SITE_KEY: 'x',
      TURNSTILE_SECRET_KEY: fake.secret,
      TURNSTILE_VERIFY_URL: 'http://127.0.0.1:9/siteverify',
    });
    try {
      expectJsonError(await upload(offline.url, { bytes: await fixtures.png() }, { token: token() }), 503, 'turnstile_unavailable');
      await expectNothingLeft(offline);
    } finally {
      await offline.close();
    }
  });

  it("follows Cloudflare's test secrets: always pass, always fail, always spent", async () => {
    for (const [secret, status] of [
      [TEST_SECRETS.pass, 201],
      [TEST_SECRETS.fail, 403],
      [TEST_SECRETS.spent, 403],
    ] as const) {
      const dummy = await startTestApp({ TURNSTILE_SITE_KEY: '1x00000000000000000000AA', TURNSTILE_SECRET_KEY: secret, TURNSTILE_VERIFY_URL: fake.verifyUrl });
      try {
        expect((await upload(dummy.url, { bytes: await fixtures.png() }, { token: DUMMY_TOKEN })).status, secret).to.equal(status);
      } finally {
        await dummy.close();
      }
    }
  });

  it('puts the widget with the site key and action on the home page, and allows its origin in the CSP', async () => {
    const res = await rawRequest(`${app.url}/`);
    const html = res.body.toString();
    expect(html).to.include('data-sitekey="0x4AAAAAAAtestsitekey"').and.include('data-action="upload"');
    expect(html).to.include('https://challenges.cloudflare.com/turnstile/v0/api.js');
    expect(String(res.headers['content-security-policy'])).to.include('https://challenges.cloudflare.com');
  });
});

describe('upload without Turnstile', () => {
  it('has no widget, no Cloudflare script and no Cloudflare origin in the CSP', async () => {
    const app = await startTestApp();
    try {
      const res = await rawRequest(`${app.url}/`);
      expect(res.body.toString()).not.to.include('cloudflare').and.not.to.include('cf-turnstile');
      expect(String(res.headers['content-security-policy'])).not.to.include('cloudflare');
    } finally {
      await app.close();
    }
  });
});
