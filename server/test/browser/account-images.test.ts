import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { loggedMailLink } from '../helpers/logged-mail.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/**
 * Signs up, confirms the address with the emailed link (in the log: no SMTP_URL) and logs in through the forms,
 * as a person would; ends on My images.
 */
async function signUpAndLogIn(page: Page, app: TestApp, username: string): Promise<void> {
  const appUrl = app.url;
  await page.goto(`${appUrl}/signup`);
  await page.locator('#username').fill(username);
  await page.locator('#email').fill(`${username}@example.test`);
  await page.locator('#password').fill('correct horse battery staple');
  await page.locator('input[name="age"]').check();
  await page.locator('input[name="terms"]').check();
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Check your inbox').waitFor();
  await page.goto(await loggedMailLink(app.logs, `${username}@example.test`, `${appUrl}/verify-email/`));
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();
  await page.goto(`${appUrl}/login`);
  await page.locator('#login').fill(username);
  await page.locator('#password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${appUrl}/account/images`);
}

describe('browser: My images', function () {
  this.timeout(120_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  it('signs up, uploads into My images, renames, makes private, bulk-deletes, claims a guest upload, and passes axe', async () => {
    const { page } = browser;
    page.on('dialog', (dialog) => void dialog.accept());

    await signUpAndLogIn(page, app, 'carol');
    expect(await page.textContent('main')).to.include('No images yet');

    // Upload from the home page while signed in: it lands in My images.
    const uploadFromHome = async (name: string) => {
      await page.goto(app.url);
      await page.locator('#file').setInputFiles({ name, mimeType: 'image/png', buffer: await fixtures.png() });
      await page.waitForURL(/\/upload\/\w{12}$/);
      return page.url().split('/').pop()!;
    };
    const first = await uploadFromHome('first.png');
    expect(await page.textContent('main')).to.include('It is in My images');
    await page.getByRole('link', { name: 'My images' }).first().click();
    await page.waitForURL(`${app.url}/account/images`);
    const card = page.locator(`#image-${first}`);
    expect(await card.locator('.image-label').textContent()).to.equal('first.png');
    expect(await card.locator('img').evaluate((img: HTMLImageElement) => img.decode().then(() => img.naturalWidth))).to.be.greaterThan(0);

    // Rename.
    await card.locator(`#title-${first}`).fill('  Holiday  ');
    await card.getByRole('button', { name: 'Rename' }).click();
    await page.getByText('Title saved.').waitFor();
    expect(await page.locator(`#image-${first} .image-label`).textContent()).to.equal('Holiday');

    // Private: a fresh guest browser gets 404 on the share page and the direct link; the owner still sees it.
    // One step: choosing it saves it (no "Set" button, no reload, with JavaScript).
    expect(await page.locator(`#image-${first}`).getByRole('button', { name: 'Set' }).isHidden()).to.equal(true);
    await page.locator(`#visibility-${first}`).selectOption('private');
    await page.locator(`#image-${first} .visibility-status`).filter({ hasText: 'Saved: private.' }).waitFor();
    expect(await page.locator(`#image-${first} .badge`).textContent()).to.equal('Private');
    expect((await app.db('images').where({ id: first }).first()).visibility).to.equal('private');
    const guest = await openBrowser();
    try {
      for (const path of [`/i/${first}`, `/i/${first}.png`, `/t/${first}.webp`]) {
        const res = await guest.page.goto(`${app.url}${path}`);
        expect(res?.status(), path).to.equal(404);
      }
      expect((await page.goto(`${app.url}/i/${first}`))?.status()).to.equal(200);
    } finally {
      await guest.close();
    }

    // Bulk-select two images and delete them.
    const second = await uploadFromHome('second.png');
    const third = await uploadFromHome('third.png');
    await page.goto(`${app.url}/account/images`);
    expect(await page.locator('.image-card').count()).to.equal(3);
    expect(await page.locator('#bulk-delete-button').isDisabled()).to.equal(true);
    await page.locator(`#select-${second}`).check();
    await page.locator(`#select-${third}`).check();
    expect(await page.locator('#selected-count').textContent()).to.equal('2 images selected');
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByText('Deleted 2 images.').waitFor();
    expect(await page.locator('.image-card').count()).to.equal(1);
    expect((await app.storedKeys()).filter((f) => f.includes(second) || f.includes(third))).to.deep.equal([]);

    // Claim a guest upload by pasting its delete link.
    const uploader = await openBrowser();
    let deleteLink: string;
    try {
      await uploader.page.goto(app.url);
      await uploader.page.locator('#file').setInputFiles({ name: 'from-a-guest.png', mimeType: 'image/png', buffer: await fixtures.png() });
      await uploader.page.waitForURL(/\/upload\/\w{12}$/);
      deleteLink = await uploader.page.locator('#delete-link').inputValue();
    } finally {
      await uploader.close();
    }
    await page.locator('#claim-link').fill(deleteLink);
    await page.getByRole('button', { name: 'Claim image' }).click();
    await page.getByText('The image is now in your account').waitFor();
    expect(await page.locator('.image-label').allTextContents()).to.deep.equal(['from-a-guest.png', 'Holiday']);
    const claimed = deleteLink.split('/').slice(-2)[0]!;
    expect((await app.db('images').where({ id: claimed }).first()).owner_id).to.be.a('string');

    // Make the claimed one public: it shows on the profile. Both pages pass axe.
    await page.locator(`#visibility-${claimed}`).selectOption('public');
    await page.locator(`#image-${claimed} .visibility-status`).filter({ hasText: 'Saved: public.' }).waitFor();
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    await page.goto(`${app.url}/u/carol`);
    expect(await page.locator('.image-label').allTextContents()).to.deep.equal(['from-a-guest.png']);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('has no serious accessibility violations with a full page of images, in light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const themed = await openBrowser({ colorScheme });
      try {
        const { page } = themed;
        await signUpAndLogIn(page, app, `dana${colorScheme}`);
        for (const name of ['one.png', 'two.png']) {
          await page.goto(app.url);
          await page.locator('#file').setInputFiles({ name, mimeType: 'image/png', buffer: await fixtures.png() });
          await page.waitForURL(/\/upload\/\w{12}$/);
        }
        await page.goto(`${app.url}/account/images`);
        await page.locator('#select-all').check();
        expect(await page.locator('#selected-count').textContent()).to.equal('2 images selected');
        expect(await seriousA11yViolations(page), colorScheme).to.deep.equal([]);
        await page.goto(`${app.url}/account/images?q=nothing`);
        expect(await seriousA11yViolations(page), colorScheme).to.deep.equal([]);
        await page.setViewportSize({ width: 360, height: 740 });
        await page.goto(`${app.url}/account/images`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow, 'no sideways scrolling on a phone').to.be.at.most(0);
      } finally {
        await themed.close();
      }
    }
  });
  it('changes visibility in bulk, adds ticked images to an album, and copies an image’s Markdown from the list, at 1280 and 390 px', async () => {
    const { page } = browser;
    page.on('dialog', (dialog) => void dialog.accept());
    await signUpAndLogIn(page, app, 'dora');
    const ids: string[] = [];
    for (const name of ['a.png', 'b.png', 'c.png']) {
      await page.goto(app.url);
      await page.locator('#file').setInputFiles({ name, mimeType: 'image/png', buffer: await fixtures.png() });
      await page.waitForURL(/\/upload\/\w{12}$/);
      ids.push(page.url().split('/').pop()!);
    }
    await page.goto(`${app.url}/account/albums`);
    await page.locator('#album-title').fill('Trip');
    await page.getByRole('button', { name: 'Create album' }).click();
    await page.goto(`${app.url}/account/images`);

    const setVisibility = page.getByRole('button', { name: 'Set visibility' });
    expect(await setVisibility.isDisabled(), 'nothing ticked yet').to.equal(true);
    await page.locator(`#select-${ids[0]}`).check();
    await page.locator(`#select-${ids[1]}`).check();
    await page.locator('#bulk-visibility').selectOption('public');
    await setVisibility.click();
    await page.locator('#notice').filter({ hasText: '2 images are now public.' }).waitFor();
    expect(await page.locator(`#image-${ids[0]} .badge`).textContent()).to.equal('Public');
    expect(await page.locator(`#image-${ids[2]} .badge`).textContent()).to.equal('Unlisted');

    await page.locator('#select-all').check();
    await page.getByRole('button', { name: 'Add to album' }).click();
    await page.locator('#notice').filter({ hasText: 'All 3 images are in the album now.' }).waitFor();
    const album = await app.db('albums').where({ title: 'Trip' }).first();
    expect((await app.db('album_images').where({ album_id: album.id }).pluck('image_id')).sort()).to.deep.equal([...ids].sort());
    expect(await app.db('images').whereIn('id', ids).pluck('id'), 'adding never deletes').to.have.length(3);

    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
    await page.locator(`#image-${ids[2]} .image-links summary`).click();
    expect(await seriousA11yViolations(page), 'with the links open').to.deep.equal([]);
    await page.locator(`#image-${ids[2]}`).getByRole('button', { name: 'Copy Markdown' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).to.equal(`[![c.png](${app.url}/i/${ids[2]}.png)](${app.url}/i/${ids[2]})`);

    // On a phone the bulk bar and the cards fit the width: nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${app.url}/account/images`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(390);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
