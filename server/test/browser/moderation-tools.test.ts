import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, submitLogin, type TestBrowser } from '../helpers/browser.js';
import { reportTarget, COPYRIGHT_NOTICE } from '../helpers/moderation.js';
import { rawRequest, upload } from '../helpers/http.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('browser: the moderator’s tools (albums, bulk, bans, suspension, counter-notices)', function () {
  this.timeout(90_000);
  let app: TestApp;
  let browser: TestBrowser;
  let moderator: TestUser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser();
    moderator = await staffUser(app, 'moderator');
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  const logInAs = async (page: Page, user: TestUser) => {
    await browser.context.clearCookies();
    await logIn(page, app.url, user);
  };

  it('a visitor reports an album, the moderator hides it, and its owner reads why', async () => {
    const owner = await signedInUser(app);
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    const created = await owner.client.post('/account/albums', { title: 'Street scenes' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(created.headers.location))![1]!;
    await owner.client.post(`/account/albums/${albumId}/images`, [['image_id', image.id]], { csrfPage: `/account/albums/${albumId}` });
    const { page } = browser;

    await page.goto(`${app.url}/a/${albumId}`);
    await page.getByRole('link', { name: 'Report this album' }).click();
    await page.getByRole('heading', { name: 'Report this album' }).waitFor();
    await page.getByLabel('Harassment or privacy violation').check();
    await page.getByLabel('Details (optional)').fill('Photos of my front door.');
    await page.getByRole('button', { name: 'Send the report' }).click();
    await page.getByRole('heading', { name: 'Thank you' }).waitFor();

    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#album-group-${albumId}`);
    expect(await group.textContent()).to.include('Photos of my front door.').and.include('Street scenes');
    expect(await seriousA11yViolations(page), 'queue with an album').to.deep.equal([]);
    await group.getByLabel('Decision').selectOption('hide');
    await group.getByLabel(/^Reason/).fill('Shows a private home');
    await group.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#queue-empty').waitFor();
    expect((await rawRequest(`${app.url}/a/${albumId}`)).status).to.equal(404);

    await logInAs(page, owner);
    expect(await page.locator('#moderation-notices').textContent()).to.include('Album').and.include('hidden').and.include('Shows a private home');
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });

  it('the moderator ticks two reported images and hides both at once, then bans the spammer’s address', async () => {
    const images = [];
    for (let i = 0; i < 3; i++) images.push((await upload(app.url, { bytes: await fixtures.png() })).json());
    for (const image of images) await reportTarget(app, image.id, { reason: 'spam' });
    const { page } = browser;
    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/reports`);
    for (const image of images.slice(0, 2)) await page.locator(`#group-${image.id}`).getByLabel('Select').check();
    const bulk = page.locator('#bulk-form');
    await bulk.getByLabel('Decision').selectOption('hide');
    await bulk.getByLabel(/^Reason/).fill('Spam wave');
    await bulk.getByRole('button', { name: 'Apply to the ticked images' }).click();
    await page.getByText('2 of 2 images decided').waitFor();
    expect((await rawRequest(images[0].url)).status).to.equal(404);
    expect((await rawRequest(images[1].url)).status).to.equal(404);
    expect((await rawRequest(images[2].url)).status).to.equal(200);

    // The third: ban the address it came from, without seeing it.
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#group-${images[2].id}`);
    await group.getByText('Act on the uploader').click();
    await group.getByLabel(/^Ban the address/).fill('3');
    await group.getByRole('button', { name: 'Ban from uploading' }).click();
    await page.getByRole('link', { name: 'Bans' }).click();
    expect(await page.locator('#bans').textContent()).to.include('127.0.0.1/32');
    expect(await seriousA11yViolations(page), 'bans page').to.deep.equal([]);

    // A guest on that address is told plainly in the upload form.
    await browser.context.clearCookies();
    await page.goto(app.url);
    await page.locator('#file').setInputFiles({ name: 'more.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.locator('#status.error').filter({ hasText: 'paused by this site’s moderators' }).waitFor();

    // Lifting the ban lets uploads through again.
    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/bans`);
    await page.getByRole('button', { name: 'Lift' }).click();
    expect(await page.locator('#bans').textContent()).to.include('No bans in force');
    expect((await upload(app.url, { bytes: await fixtures.png() })).status).to.equal(201);
  });

  it('an upheld copyright notice: the uploader sends a counter-notice, the moderator accepts it and puts the image back', async () => {
    const owner = await signedInUser(app);
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await reportTarget(app, image.id, COPYRIGHT_NOTICE);
    const { page } = browser;
    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#group-${image.id}`);
    await group.getByLabel('Decision').selectOption('hide');
    await group.getByLabel(/^Reason/).fill('Copyright notice about “Sunset”');
    await group.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#queue-empty').waitFor();

    await logInAs(page, owner);
    await page.getByRole('link', { name: 'Send a counter-notice' }).click();
    expect(await seriousA11yViolations(page), 'counter-notice form').to.deep.equal([]);
    await page.getByLabel('Your full name', { exact: true }).fill('Olive Owner');
    await page.getByLabel('Your address, phone or email').fill('olive@example.test');
    await page.getByLabel('Why the image should come back').fill('I took this photo myself in 2024.');
    await page.getByLabel(/good faith/).check();
    await page.getByLabel(/jurisdiction/).check();
    await page.getByLabel(/^Signature/).fill('Olive Owner');
    await page.getByRole('button', { name: 'Send the counter-notice' }).click();
    await page.getByRole('heading', { name: 'Counter-notice sent' }).waitFor();

    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/copyright`);
    const notice = page.locator('.copyright-notice').first();
    expect(await notice.locator('.notice-status').textContent()).to.equal('upheld');
    expect(await notice.textContent()).to.include('I took this photo myself in 2024.');
    await notice.getByLabel('Decision').selectOption('accept');
    await notice.getByLabel('Note').fill('Licence shown');
    await notice.getByRole('button', { name: 'Decide' }).click();
    expect(await page.locator('.copyright-notice .notice-status').first().textContent()).to.equal('reversed after a counter-notice');
    await page.getByRole('button', { name: 'Put the image back' }).click();
    await page.waitForURL(/\/admin\/reports$/);
    expect((await rawRequest(image.url)).status).to.equal(200);
  });

  it('the moderator suspends an uploader from the queue, and the uploader’s login shows the reason', async () => {
    const owner = await signedInUser(app);
    const image = (await ownerUpload(owner, await fixtures.png())).json();
    await reportTarget(app, image.id, { reason: 'spam' });
    const { page } = browser;
    await logInAs(page, moderator);
    await page.goto(`${app.url}/admin/reports`);
    const group = page.locator(`#group-${image.id}`);
    await group.getByText('Act on the uploader').click();
    await group.getByLabel(/^Suspend the uploader/).fill('Posting spam');
    await group.getByRole('button', { name: 'Suspend the account' }).click();
    await page.waitForURL(/\/admin\/reports$/);

    await browser.context.clearCookies();
    await submitLogin(page, app.url, owner.username, owner.password);
    expect(await page.getByRole('alert').textContent()).to.include('suspended').and.include('Posting spam');
  });
});
