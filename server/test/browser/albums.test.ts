import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { newImageId } from '../../lib/ids.js';
import { imageKeys } from '../../storage/keys.js';
import { fixtures } from '../fixtures/images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations } from '../helpers/browser.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

type Visibility = 'public' | 'unlisted' | 'private';

/**
 * A real image with a real thumbnail, stored as the upload pipeline stores them, and owned by the user.
 * (Written directly rather than uploaded, so this test depends on the album code only.)
 */
async function ownedImage(app: TestApp, user: TestUser, name: string, visibility: Visibility, [width, height]: [number, number]): Promise<string> {
  const id = newImageId();
  const original = await fixtures.png(width, height);
  const thumb = await sharp(original).resize(200, 200, { fit: 'inside' }).webp().toBuffer({ resolveWithObject: true });
  const keys = imageKeys({ id, ext: 'png' });
  await app.storage.put(keys.original, Readable.from([original]));
  await app.storage.put(keys.thumbnail, Readable.from([thumb.data]));
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  await app.db('images').insert({
    id, delete_key_hash: 'a'.repeat(64), original_name: name, mime: 'image/png', ext: 'png', size: original.length, width, height, frames: 1,
    sha256: sha(original), thumb_size: thumb.data.length, thumb_width: thumb.info.width, thumb_height: thumb.info.height, thumb_sha256: sha(thumb.data),
    created_at: new Date(), owner_id: user.id, visibility,
  });
  return id;
}

/** True once every image on the page has loaded with real pixels. */
const imagesDecoded = (page: Page) =>
  page.evaluate(() => Promise.all(Array.from(document.querySelectorAll('main img')).map((img) => (img as HTMLImageElement).decode().then(() => (img as HTMLImageElement).naturalWidth > 0))));

describe('browser: albums', function () {
  this.timeout(120_000);
  let app: TestApp;
  let user: TestUser;
  let ids: { pub: string; unl: string; priv: string };
  beforeEach(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    user = await signedInUser(app, { username: 'carol' });
    ids = {
      pub: await ownedImage(app, user, 'beach.png', 'public', [320, 240]),
      unl: await ownedImage(app, user, 'harbour.png', 'unlisted', [300, 200]),
      priv: await ownedImage(app, user, 'passport.png', 'private', [200, 300]),
    };
  });
  afterEach(() => app.close());

  it('creates an album, adds images, sets a cover, renames, removes one, shares it with a guest and deletes it', async () => {
    const owner = await openBrowser();
    const guest = await openBrowser();
    try {
      const { page } = owner;
      await logIn(page, app.url, user);
      await page.getByRole('link', { name: 'Albums', exact: true }).click();
      await page.getByLabel('Title').fill('Summer trip');
      await page.getByRole('button', { name: 'Create album' }).click();
      await page.waitForURL(/\/account\/albums\/\w{16}$/);
      const albumId = page.url().split('/').pop()!;
      expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Summer trip');

      // Add two images with the picker, then the third one.
      await page.getByRole('checkbox', { name: 'beach.png' }).check();
      await page.getByRole('checkbox', { name: 'passport.png' }).check();
      await page.getByRole('button', { name: 'Add selected' }).click();
      await page.getByRole('heading', { name: 'In this album (2)' }).waitFor();
      await page.getByRole('checkbox', { name: 'harbour.png' }).check();
      await page.getByRole('button', { name: 'Add selected' }).click();
      await page.getByRole('heading', { name: 'In this album (3)' }).waitFor();
      expect(await page.getByText('All your images are in this album already').count()).to.equal(1);
      expect((await imagesDecoded(page)).every(Boolean), 'every thumbnail loads').to.equal(true);

      await page.getByRole('button', { name: 'Set as cover (harbour.png)' }).click();
      await page.waitForLoadState();
      expect(await page.locator('.album-item', { hasText: 'harbour.png' }).getByText('Cover', { exact: true }).count()).to.equal(1);

      await page.getByLabel('Album title').fill('  Summer trip 2026  ');
      await page.getByRole('button', { name: 'Rename' }).click();
      await page.getByRole('heading', { level: 1, name: 'Summer trip 2026' }).waitFor();

      await page.getByRole('button', { name: 'Remove beach.png from the album' }).click();
      await page.getByRole('heading', { name: 'In this album (2)' }).waitFor();
      expect(await page.getByRole('checkbox', { name: 'beach.png' }).count(), 'back in the picker').to.equal(1);
      expect(await seriousA11yViolations(page), 'manage page').to.deep.equal([]);

      const shareUrl = await page.locator('#album-link').inputValue();
      expect(shareUrl).to.equal(`${app.url}/a/${albumId}`);

      // The album list shows the cover and the count.
      await page.getByRole('link', { name: 'Albums', exact: true }).click();
      const tile = page.locator('.album-tile', { hasText: 'Summer trip 2026' });
      expect(await tile.textContent()).to.include('2 images');
      expect(await tile.locator('img').getAttribute('src')).to.equal(`${app.url}/t/${ids.unl}.webp`);
      expect(await seriousA11yViolations(page), 'album list').to.deep.equal([]);

      // A guest with the link sees the unlisted image only: never the private one.
      await guest.page.goto(shareUrl);
      expect(await guest.page.getByRole('heading', { level: 1 }).textContent()).to.equal('Summer trip 2026');
      expect(await guest.page.locator('main img').count()).to.equal(1);
      expect(await guest.page.getByRole('img', { name: 'harbour.png' }).count()).to.equal(1);
      expect(await guest.page.content()).not.to.include(ids.priv);
      expect(await guest.page.locator('meta[property="og:image"]').getAttribute('content')).to.equal(`${app.url}/i/${ids.unl}.png`);
      expect((await imagesDecoded(guest.page)).every(Boolean)).to.equal(true);
      expect(await seriousA11yViolations(guest.page), 'share page').to.deep.equal([]);
      await guest.page.getByRole('link', { name: 'harbour.png' }).click();
      await guest.page.waitForURL(`${app.url}/i/${ids.unl}`);

      // The owner sees both, the private one marked as such.
      await page.goto(shareUrl);
      expect(await page.locator('main img').count()).to.equal(2);
      expect(await page.getByText('Private: only you see this').count()).to.equal(1);

      await page.goto(`${app.url}/account/albums/${albumId}`);
      await page.getByRole('button', { name: 'Delete album' }).click();
      await page.waitForURL(`${app.url}/account/albums`);
      expect(await page.getByText('You have no albums yet').count()).to.equal(1);
      expect(await app.db('images').whereIn('id', Object.values(ids)), 'the images stay').to.have.length(3);
      expect((await guest.page.goto(shareUrl))!.status()).to.equal(404);

      for (const b of [owner, guest]) {
        expect(foreignRequests(b.requests, app.url)).to.deep.equal([]);
        expect(b.consoleErrors.filter((e) => !/404/.test(e))).to.deep.equal([]);
      }
    } finally {
      await owner.close();
      await guest.close();
    }
  });

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`album pages have no serious or critical accessibility violations and fit a phone (${colorScheme})`, async () => {
      const phone = await openBrowser({ colorScheme, viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
      try {
        const { page } = phone;
        await logIn(page, app.url, user);
        await page.goto(`${app.url}/account/albums`);
        await page.getByLabel('Title').fill('A title long enough to need wrapping on a narrow phone screen, surely');
        await page.getByRole('button', { name: 'Create album' }).click();
        await page.waitForURL(/\/account\/albums\/\w{16}$/);
        await page.getByRole('checkbox', { name: 'beach.png' }).check();
        await page.getByRole('button', { name: 'Add selected' }).click();
        await page.getByRole('heading', { name: 'In this album (1)' }).waitFor();
        const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
        expect(await seriousA11yViolations(page), 'manage page').to.deep.equal([]);
        expect(await fits(), 'manage page fits').to.equal(true);
        const shareUrl = await page.locator('#album-link').inputValue();
        await page.goto(`${app.url}/account/albums`);
        expect(await seriousA11yViolations(page), 'list').to.deep.equal([]);
        expect(await fits(), 'list fits').to.equal(true);
        await page.goto(shareUrl);
        expect(await seriousA11yViolations(page), 'share page').to.deep.equal([]);
        expect(await fits(), 'share page fits').to.equal(true);
      } finally {
        await phone.close();
      }
    });
  }
});
