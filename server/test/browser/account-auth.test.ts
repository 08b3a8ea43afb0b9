import { expect } from 'chai';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: sign up, verify, log in and out, reset a forgotten password', function () {
  this.timeout(90_000);
  let smtp: TestSmtp;
  let app: TestApp;
  let browser: TestBrowser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    smtp.messages.length = 0;
    app = await startTestApp({ SMTP_URL: smtp.url }, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('goes through the whole account lifecycle with the forms', async () => {
    const { page } = browser;
    await page.goto(app.url);
    await page.getByRole('link', { name: 'Sign up' }).click();
    expect(await seriousA11yViolations(page), 'sign-up page').to.deep.equal([]);
    await page.getByLabel('Username').fill('frida');
    await page.getByLabel('Email address').fill('frida@example.test');
    await page.getByLabel('Password').fill('password');
    await page.getByLabel(/at least 13 years old/).check();
    await page.getByLabel(/terms of service/).check();
    await page.getByRole('button', { name: 'Create account' }).click();
    // A common password is refused; the other fields are kept.
    await page.locator('[role="alert"]').filter({ hasText: 'too common' }).waitFor();
    expect(await page.getByLabel('Username').inputValue()).to.equal('frida');
    await page.getByLabel('Password').fill('my own long passphrase');
    await page.getByLabel(/at least 13 years old/).check();
    await page.getByLabel(/terms of service/).check();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    // The page offers the way on: log in (issue 17 item 12).
    expect(await page.locator('main a.button', { hasText: 'Log in' }).getAttribute('href')).to.equal('/login');

    // Follow the emailed link; the address is confirmed by the button, not by opening the link.
    const verifyLink = linkIn((await smtp.waitFor('frida@example.test', /Confirm/)).text, `${app.url}/verify-email/`);
    await page.goto(verifyLink);
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();

    await page.getByRole('link', { name: 'Log in' }).first().click();
    expect(await seriousA11yViolations(page), 'login page').to.deep.equal([]);
    await page.getByLabel('Username or email').fill('frida');
    await page.getByLabel('Password').fill('my own long passphrase');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('button', { name: 'Log out frida' }).waitFor();
    const cookies = await browser.context.cookies();
    expect(cookies.map((c) => c.name).sort()).to.deep.equal(['pixbin_csrf', 'pixbin_device', 'pixbin_session']);
    expect(cookies.every((c) => c.httpOnly)).to.equal(true);

    await page.getByRole('button', { name: 'Log out frida' }).click();
    await page.getByRole('link', { name: 'Log in' }).waitFor();
    expect((await browser.context.cookies()).map((c) => c.name)).not.to.include('pixbin_session');

    // Forgot the password: ask for a link, set a new one, log in with it.
    await page.goto(`${app.url}/login`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('The email address of your account').fill('frida@example.test');
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByText('If an account uses that address').waitFor();
    const resetLink = linkIn((await smtp.waitFor('frida@example.test', /Reset/)).text, `${app.url}/reset-password/`);
    await page.goto(resetLink);
    await page.getByLabel('New password', { exact: true }).fill('a fresh new passphrase');
    await page.getByRole('button', { name: 'Save the new password' }).click();
    await page.getByRole('heading', { name: 'Password changed' }).waitFor();
    await page.goto(resetLink);
    expect(await page.textContent('main')).to.include('already used');

    await page.goto(`${app.url}/login`);
    await page.getByLabel('Username or email').fill('frida@example.test');
    await page.getByLabel('Password').fill('a fresh new passphrase');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('button', { name: 'Log out frida' }).waitFor();

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    // The only console errors are the two expected 400s: the refused common password and the spent reset link.
    expect(browser.consoleErrors).to.deep.equal(Array(2).fill('Failed to load resource: the server responded with a status of 400 (Bad Request)'));
  });

  it('refuses a login form posted from another site (CSRF)', async () => {
    const { page } = browser;
    await page.goto(`${app.url}/login`);
    // Another origin serves a form that posts to Pixbin's login.
    const evil = await startTestApp({}, { publicHost: '127.0.0.1' });
    try {
      await browser.context.route(`${evil.url}/evil`, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<form id="f" method="post" action="${app.url}/login"><input name="login" value="frida"><input name="password" value="x"><input name="_csrf" value="forged"></form><button id="go" form="f">go</button>`,
        }),
      );
      await page.goto(`${evil.url}/evil`);
      await page.click('#go');
      await page.waitForLoadState();
      expect(await page.textContent('body')).to.include('expired or was sent from another site');
    } finally {
      await evil.close();
    }
  });
});
