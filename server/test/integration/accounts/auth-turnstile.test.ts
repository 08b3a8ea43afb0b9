import { expect } from 'chai';
import { startFakeTurnstile, type FakeTurnstile } from '../../helpers/fake-turnstile.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

describe('Turnstile on sign-up, login and password reset', () => {
  let fake: FakeTurnstile;
  let app: TestApp;
  before(async () => {
    fake = await startFakeTurnstile();
  });
  after(() => fake.close());
  beforeEach(async () => {
    fake.mode = 'ok';
    app = await startTestApp({ TURNSTILE_SITE_KEY: '0x4AAAAAAAauthtest', TURNSTILE_SECRET_KEY: fake.secret, TURNSTILE_VERIFY_URL: fake.verifyUrl, TURNSTILE_TIMEOUT_MS: '500' });
  });
  afterEach(() => app.close());

  const token = (action: string) => fake.mint({ action, hostname: '127.0.0.1' });
  const account = { username: 'erin', email: 'erin@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' };

  it('puts the widget, with its action, on each form', async () => {
    const client = new WebClient(app.url);
    for (const [path, action] of [['/signup', 'signup'], ['/login', 'login'], ['/forgot-password', 'reset']] as const) {
      const html = (await client.get(path)).body.toString();
      expect(html, path).to.include(`data-action="${action}"`).and.include('data-sitekey="0x4AAAAAAAauthtest"');
    }
  });

  it('requires a token solved for the right action on each form, and fails closed when siteverify is down', async () => {
    const client = new WebClient(app.url);
    const opts = (path: string) => ({ json: true, csrfPage: path });
    expect((await client.post('/signup', account, opts('/signup'))).json().error.code).to.equal('turnstile_missing');
    expect((await client.post('/signup', { ...account, 'cf-turnstile-response': token('login') }, opts('/signup'))).status).to.equal(403);
    expect((await client.post('/signup', { ...account, 'cf-turnstile-response': token('signup') }, opts('/signup'))).status).to.equal(202);
    expect(await app.db('users')).to.have.length(1);

    const login = { login: 'erin', password: account.password };
    expect((await client.post('/login', login, opts('/login'))).status).to.equal(400);
    expect((await client.post('/login', { ...login, 'cf-turnstile-response': token('signup') }, opts('/login'))).status).to.equal(403);
    expect((await client.post('/login', { ...login, 'cf-turnstile-response': token('login') }, opts('/login'))).status).to.equal(200);

    fake.mode = 'down';
    const reset = await client.post('/forgot-password', { email: account.email, 'cf-turnstile-response': token('reset') }, opts('/forgot-password'));
    expect(reset.status).to.equal(503);
    expect(reset.json().error.code).to.equal('turnstile_unavailable');
  });
});
