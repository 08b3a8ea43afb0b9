import { expect } from 'chai';
import { LIMITS } from '../../services/rate-limits.service.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { openBrowser, type TestBrowser } from '../helpers/browser.js';
import { serveWidgetLocally, startFakeTurnstile, turnstileEnv, type FakeTurnstile } from '../helpers/fake-turnstile.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

/** Issue 15 item 8 in a real browser: a browser that logged in before is not locked out by strangers. */
describe('browser: strangers cannot lock the owner’s browser out', function () {
  this.timeout(90_000);
  let fake: FakeTurnstile;
  let app: TestApp;
  let alice: TestUser;
  const browsers: TestBrowser[] = [];
  beforeEach(async () => {
    fake = await startFakeTurnstile();
    // The account is made on a replica without the bot check; both share the database.
    const plain = await startTestApp();
    try {
      alice = await signedInUser(plain, { username: 'alice', email: 'alice@example.test' });
    } finally {
      await plain.close();
    }
    app = await startTestApp(turnstileEnv(fake), { publicHost: 'localhost' });
  });
  afterEach(async () => {
    for (const browser of browsers.splice(0)) await browser.close();
    await app.close();
    await fake.close();
  });

  const openWithWidget = async () => {
    const browser = await openBrowser();
    browsers.push(browser);
    await serveWidgetLocally(browser.context, fake, { tokens: 2 });
    return browser;
  };
  const logInWithForm = async ({ page }: TestBrowser) => {
    await page.goto(`${app.url}/login`);
    await page.locator('.cf-turnstile input[name="cf-turnstile-response"]').waitFor({ state: 'attached' });
    await page.waitForFunction(() => (document.querySelector('[name="cf-turnstile-response"]') as HTMLInputElement).value !== '');
    await page.getByLabel('Username or email').fill('alice');
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
  };

  it('logs in, logs out, strangers flood the account, and the same browser logs in again', async () => {
    const owner = await openWithWidget();
    await logInWithForm(owner);
    await owner.page.getByRole('button', { name: 'Log out alice' }).click();
    await owner.page.getByRole('link', { name: 'Log in' }).waitFor();
    const kept = (await owner.context.cookies()).find((c) => c.name === 'pixbin_device');
    expect(kept, 'the device cookie stays after logging out').to.include({ httpOnly: true, sameSite: 'Lax' });

    // Strangers over HTTP: a token-less flood, then wrong guesses with solved bot checks until the shared budget is gone.
    const attacker = new WebClient(app.url);
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      expect((await attacker.post('/login', { login: 'alice', password: `guess ${i}` }, { json: true, csrfPage: '/login' })).status).to.equal(400);
    }
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      const guess = { login: 'alice', password: `solved guess ${i}`, 'cf-turnstile-response': fake.mint({ action: 'login', hostname: 'localhost' }) };
      expect((await attacker.post('/login', guess, { json: true, csrfPage: '/login' })).status).to.equal(403);
    }

    // A browser that never logged in to the account is refused, with a message that says what to do.
    const stranger = await openWithWidget();
    await logInWithForm(stranger);
    await stranger.page.locator('[role="alert"]').filter({ hasText: 'browsers it has not logged in from before' }).waitFor();

    // The owner's browser still gets in.
    await logInWithForm(owner);
    await owner.page.getByRole('button', { name: 'Log out alice' }).waitFor();
    expect(new URL(owner.page.url()).pathname).to.equal('/account/images');
  });
});
