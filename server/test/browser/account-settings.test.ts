import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase 42';

async function logIn(page: Page, appUrl: string, login: string, password: string): Promise<void> {
  await page.goto(`${appUrl}/login`);
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.getByRole('button', { name: 'Log in' }).click()]);
}

async function signUp(page: Page, appUrl: string, username: string, email: string): Promise<void> {
  await page.goto(`${appUrl}/signup`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel(/at least \d+ years old/).check();
  await page.getByLabel(/I accept the terms/).check();
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Check your inbox').waitFor();
}

/** Whether the page at /account/settings is reachable (a signed-out browser lands on /login). */
async function signedIn(page: Page, appUrl: string): Promise<boolean> {
  await page.goto(`${appUrl}/account/settings`);
  return new URL(page.url()).pathname === '/account/settings';
}

describe('browser: account settings and signed-in devices', function () {
  this.timeout(120_000);
  let smtp: TestSmtp;
  let app: TestApp;
  let laptop: TestBrowser;
  let phone: TestBrowser;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    smtp.messages.length = 0;
    app = await startTestApp({ SMTP_URL: smtp.url }, { publicHost: 'localhost' });
    laptop = await openBrowser();
    phone = await openBrowser();
  });
  afterEach(async () => {
    await laptop.close();
    await phone.close();
    await app.close();
  });

  it('signs up, renames, changes the password signing out the other browser, toggles news and revokes a device', async () => {
    const { page } = laptop;
    await signUp(page, app.url, 'carol', 'carol@example.test');

    await logIn(page, app.url, 'carol', PASSWORD);
    await logIn(phone.page, app.url, 'carol@example.test', PASSWORD);

    // Settings: the address is not confirmed yet, and the page passes axe.
    await page.goto(`${app.url}/account/settings`);
    expect(await page.locator('#email-status').textContent()).to.equal('Not confirmed');
    expect(await page.getByRole('button', { name: 'Send the link again' }).count()).to.equal(1);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);

    // A mistake first (past the browser's own check): the server explains it beside its form.
    await page.getByRole('textbox', { name: 'Username', exact: true }).evaluate((el: HTMLInputElement) => el.removeAttribute('pattern'));
    await page.getByRole('textbox', { name: 'Username', exact: true }).fill('no spaces!');
    await page.getByRole('button', { name: 'Change username' }).click();
    expect(await page.locator('#username-error').textContent()).to.include('3 to 32 letters');

    await page.getByRole('textbox', { name: 'Username', exact: true }).fill('Carol_B');
    await page.getByRole('button', { name: 'Change username' }).click();
    expect(await page.locator('#settings-notice').textContent()).to.equal('Your username was changed.');
    expect(await page.getByRole('button', { name: 'Log out Carol_B' }).count()).to.equal(1);

    // Password, with "sign out my other sessions" ticked by default.
    await page.locator('#current-password').fill(PASSWORD);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    expect(await page.getByLabel('Sign out my other sessions').isChecked()).to.equal(true);
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await page.locator('#settings-notice').textContent()).to.include('your other devices were signed out');
    expect(await signedIn(phone.page, app.url), 'the other browser is signed out').to.equal(false);
    expect(await signedIn(page, app.url), 'this browser stays signed in').to.equal(true);

    // Marketing news: off by default; each change shows in the history.
    const news = page.getByLabel(/Send me occasional news/);
    expect(await news.isChecked()).to.equal(false);
    await news.check();
    await page.getByRole('button', { name: 'Save email preference' }).click();
    expect(await page.locator('#settings-notice').textContent()).to.include('you will get occasional news');
    await page.getByLabel(/Send me occasional news/).uncheck();
    await page.getByRole('button', { name: 'Save email preference' }).click();
    const history = await page.locator('#consent-history tbody tr').allTextContents();
    expect(history.map((row) => row.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC/, ''))).to.deep.equal(['withdrawn', 'granted', 'declined']);

    // Two devices on the sessions page; sign the other one out.
    await logIn(phone.page, app.url, 'carol_b', NEW_PASSWORD);
    await page.getByRole('link', { name: /See where you are signed in/ }).click();
    await page.waitForURL('**/account/sessions');
    const items = page.locator('#sessions > li');
    expect(await items.count()).to.equal(2);
    expect(await page.locator('#sessions > li.current').getByText('This device').count()).to.equal(1);
    expect(await page.locator('#sessions .session-device').first().textContent()).to.match(/Chrom(e|ium)( Headless)? \d+ on Linux/);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    await page.locator('#sessions > li:not(.current)').getByRole('button', { name: /^Sign out/ }).click();
    expect(await page.locator('#sessions-notice').textContent()).to.equal('That session was signed out.');
    expect(await items.count()).to.equal(1);
    expect(await signedIn(phone.page, app.url)).to.equal(false);
    expect(await signedIn(page, app.url)).to.equal(true);

    expect(foreignRequests(laptop.requests, app.url)).to.deep.equal([]);
    // HTTP statuses show up as console errors too (the 400 above, and /account/images which is built elsewhere); anything else is a script or CSP error.
    expect(laptop.consoleErrors.filter((e) => !e.startsWith('Failed to load resource'))).to.deep.equal([]);
  });

  it('changes the email address with the current password, re-sends the link and confirms the new address', async () => {
    const { page } = laptop;
    await signUp(page, app.url, 'dave', 'dave@example.test');
    await smtp.waitFor('dave@example.test', /Confirm/);
    await logIn(page, app.url, 'dave', PASSWORD);
    await page.goto(`${app.url}/account/settings`);

    await page.getByLabel('New email address').fill('dave@new.example.test');
    await page.locator('#email-current-password').fill('not the password');
    await page.getByRole('button', { name: 'Change email address' }).click();
    expect(await page.locator('#email-error').textContent()).to.include('Your current password is not correct');
    expect(await page.getByLabel('New email address').inputValue(), 'the address is kept, the password is not').to.equal('dave@new.example.test');
    expect(await page.locator('#email-current-password').inputValue()).to.equal('');
    expect(await seriousA11yViolations(page)).to.deep.equal([]);

    // The unconfirmed sign-up address can get its link again.
    await page.getByRole('button', { name: 'Send the link again' }).click();
    await page.waitForURL(/done=verification/);
    expect(await page.locator('#settings-notice').textContent()).to.include('We sent a new confirmation link');
    const deadline = Date.now() + 5000;
    while (smtp.messages.filter((m) => m.to.includes('dave@example.test')).length < 2 && Date.now() < deadline) await page.waitForTimeout(20);
    expect(smtp.messages.filter((m) => m.to.includes('dave@example.test'))).to.have.length(2);

    await page.getByLabel('New email address').fill('dave@new.example.test');
    await page.locator('#email-current-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Change email address' }).click();
    await page.waitForURL(/done=email/);
    expect(await page.locator('#settings-notice').textContent()).to.include('Check the inbox of the new address');
    expect(await page.locator('.settings-value').textContent(), 'the address changes only once confirmed').to.equal('dave@example.test');
    const changeMail = await smtp.waitFor('dave@new.example.test', /Confirm/);
    await page.goto(linkIn(changeMail.text, `${app.url}/verify-email/`));
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByText('your email address is confirmed').waitFor();
    await page.goto(`${app.url}/account/settings`);
    expect(await page.locator('.settings-value').textContent()).to.equal('dave@new.example.test');
    expect(await page.locator('#email-status').textContent()).to.equal('Confirmed');
    expect(await page.getByRole('button', { name: 'Send the link again' }).count()).to.equal(0);
  });
});
