import { expect } from 'chai';
import sharp from 'sharp';
import type { Locator, Page } from 'playwright-core';
import { fixtures } from '../fixtures/images.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { upload } from '../helpers/http.js';
import { staffPost } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

type Box = { x: number; y: number; width: number; height: number };
async function box(locator: Locator): Promise<Box> {
  const b = await locator.boundingBox();
  if (!b) throw new Error('not rendered');
  return b;
}
const overlaps = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
/** The element is wholly inside the viewport as the page first shows (no scrolling). */
async function inFirstScreen(page: Page, locator: Locator): Promise<boolean> {
  const b = await box(locator);
  const { width, height } = page.viewportSize()!;
  return b.y >= 0 && b.x >= 0 && b.y + b.height <= height && b.x + b.width <= width;
}
const lineHeightOf = (locator: Locator) => locator.evaluate((el) => parseFloat(getComputedStyle(el).lineHeight));

describe('browser: the pages people meet (issue 17)', function () {
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

  it('home: the "Delete it" choice comes before the drop zone, keyboard focus on the file input shows on the drop zone, and the phone result page has the delete link in view', async () => {
    const { page } = browser;
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.goto(app.url);
      const choice = page.getByLabel('Delete it');
      const dropzone = page.locator('#dropzone');
      expect((await box(choice)).y + (await box(choice)).height, `${size.width}px: the choice sits above the drop zone`).to.be.at.most((await box(dropzone)).y);
      expect(await inFirstScreen(page, choice), `${size.width}px: the choice is in view`).to.equal(true);
      expect(await inFirstScreen(page, dropzone), `${size.width}px: the drop zone is in view`).to.equal(true);

      // Tab through the page: nothing shows on the drop zone until the (1×1 px) file input has the focus.
      expect(await dropzone.evaluate((el) => getComputedStyle(el).outlineStyle)).to.equal('none');
      let tabs = 0;
      while (!(await page.evaluate(() => document.activeElement?.id === 'file'))) {
        await page.keyboard.press('Tab');
        tabs += 1;
        expect(tabs, 'the file input is reachable with Tab').to.be.below(30);
      }
      const ring = await dropzone.evaluate((el) => ({ style: getComputedStyle(el).outlineStyle, width: getComputedStyle(el).outlineWidth }));
      expect(ring, `${size.width}px: the focus ring shows on the drop zone`).to.deep.equal({ style: 'solid', width: '3px' });
      expect(await seriousA11yViolations(page), `home at ${size.width}px`).to.deep.equal([]);
    }

    // On a phone: choose the expiry first, then the file; the result page keeps the choice and the delete link is in view.
    const options = await page.locator('#expires option').evaluateAll((els) => els.map((o) => ({ value: (o as HTMLOptionElement).value, label: o.textContent ?? '', selected: (o as HTMLOptionElement).selected })));
    const pick = options.find((o) => !o.selected && o.value !== 'never');
    expect(pick, JSON.stringify(options)).to.not.equal(undefined);
    await page.getByLabel('Delete it').selectOption(pick!.value);
    await page.locator('#file').setInputFiles({ name: 'cat.png', mimeType: 'image/png', buffer: await fixtures.png(640, 480) });
    await page.waitForURL(/\/upload\/\w+$/);
    await page.locator('#delete-link').waitFor();
    expect(await page.locator('#expires-note').textContent(), 'the choice made before the file applies').to.include('deletes itself on');
    expect(await inFirstScreen(page, page.locator('#delete-link')), 'the delete link is in view at 390 px').to.equal(true);
    expect(await inFirstScreen(page, page.getByRole('button', { name: 'Copy Delete link' })), 'its Copy button too').to.equal(true);
    expect(await page.locator('#delete-box').textContent()).to.include('Save it now');
    // Nothing on the page overlaps the delete box.
    const deleteBox = await box(page.locator('#delete-box'));
    for (const id of ['share-link', 'direct-link', 'markdown', 'bbcode', 'html']) expect(overlaps(deleteBox, await box(page.locator(`#${id}`))), id).to.equal(false);
    expect(await seriousA11yViolations(page), 'result page at 390px').to.deep.equal([]);
    await page.setViewportSize(DESKTOP);
    expect(await seriousA11yViolations(page), 'result page at 1280px').to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('result page: a signed-in uploader gets no red "save it now" warning', async () => {
    const user = await signedInUser(app, { username: 'resulta' });
    const { page } = browser;
    await page.setViewportSize(PHONE);
    await logIn(page, app.url, user);
    await page.goto(app.url);
    await page.locator('#file').setInputFiles({ name: 'mine.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w+$/);
    await page.getByRole('heading', { name: 'Your image is up' }).waitFor();
    const text = await page.locator('main').textContent();
    expect(text).to.include('My images');
    expect(text).not.to.include('Save it now');
    expect(await page.locator('main .danger, main .danger-box').count(), 'no red box').to.equal(0);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
  });

  it('sign-up: the terms sentence flows as one paragraph beside its checkbox at 1280 and 390 px', async () => {
    const { page } = browser;
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.goto(`${app.url}/signup`);
      const label = page.locator('label.check', { hasText: 'I accept the' });
      const measured = await label.evaluate((el) => {
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        const contentWidth = box.width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        // The sentence laid out on one line, to know how many lines it needs at this width.
        const probe = el.cloneNode(true) as HTMLElement;
        probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap;display:inline-block;padding:0;width:auto';
        probe.querySelector('input')?.remove();
        document.body.append(probe);
        const oneLine = probe.getBoundingClientRect().width;
        probe.remove();
        const checkbox = el.querySelector('input')!.getBoundingClientRect();
        const link = el.querySelector('a')!.getBoundingClientRect();
        return { height: box.height, contentWidth, oneLine, lineHeight: parseFloat(style.lineHeight), checkboxTop: checkbox.top, top: box.top, linkRight: link.right, right: box.right };
      });
      const needed = Math.ceil(measured.oneLine / measured.contentWidth) + 1; // +1: words do not break mid-way
      expect(measured.height, `${size.width}px: ${JSON.stringify(measured)}`).to.be.at.most(needed * measured.lineHeight + 2);
      expect(measured.checkboxTop - measured.top, 'the box sits on the first line').to.be.below(measured.lineHeight);
      expect(measured.linkRight).to.be.at.most(measured.right + 1);
      expect(await seriousA11yViolations(page), `sign-up at ${size.width}px`).to.deep.equal([]);
    }
  });

  it('share page: a tall portrait photo is height-limited so the facts and links follow in view', async () => {
    const tall = await sharp({ create: { width: 500, height: 2500, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
    const image = (await upload(app.url, { bytes: tall, filename: 'tower.jpg', contentType: 'image/jpeg' })).json();
    const { page } = browser;
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.goto(image.pageUrl);
      const img = page.locator('.share-figure img');
      await img.evaluate((el: HTMLImageElement) => el.decode());
      const shown = await box(img);
      expect(shown.height, `${size.width}px: at most 70% of the screen`).to.be.at.most(size.height * 0.7 + 1);
      expect(shown.width / shown.height, 'the proportions stay').to.be.closeTo(500 / 2500, 0.02);
      expect(await inFirstScreen(page, img), `${size.width}px: the whole photo is in view`).to.equal(true);
      expect((await box(page.locator('.facts'))).y, `${size.width}px: the facts start in view`).to.be.below(size.height);
      expect(await seriousA11yViolations(page), `share page at ${size.width}px`).to.deep.equal([]);
    }
  });

  it('delete link of a hidden image: a clear placeholder instead of a broken thumbnail', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const moderator = await staffUser(app, 'moderator');
    await reauth(moderator);
    const hidden = await staffPost(moderator, `/admin/images/${image.id}/moderate`, { action: 'hide', reason: 'Shows a private address' });
    expect(hidden.status, hidden.body.toString()).to.be.below(400);
    const { page } = browser;
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      await page.goto(image.deleteUrl);
      await page.getByRole('heading', { name: 'Delete this image?' }).waitFor();
      expect(await page.locator('main img').count(), 'no thumbnail that would not load').to.equal(0);
      expect(await page.locator('#thumb-placeholder').textContent()).to.include('No preview').and.include('hid');
      expect(await inFirstScreen(page, page.getByRole('button', { name: 'Delete permanently' })), `${size.width}px`).to.equal(true);
      expect(await seriousA11yViolations(page), `delete page at ${size.width}px`).to.deep.equal([]);
    }
    expect(browser.requests.filter((u) => u.includes('/t/') || u.includes('thumb')), 'no thumbnail was asked for').to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('forms: the report textarea and the ban days number input look like the text inputs', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const styleOf = (locator: Locator) => locator.evaluate((el) => {
      const s = getComputedStyle(el);
      return { radius: s.borderTopLeftRadius, padding: s.paddingLeft, font: s.fontSize, border: s.borderTopWidth, borderColor: s.borderTopColor };
    });
    const { page } = browser;
    await page.goto(`${app.url}/report/${image.id}`);
    const details = page.locator('textarea').first();
    const textInput = page.locator('.stack input[type="email"], .stack input[type="text"], .stack input:not([type])').first();
    const reference = await styleOf(textInput);
    expect(await styleOf(details), 'report details').to.deep.equal(reference);
    expect((await box(details)).height, 'a few lines tall').to.be.at.least(80);

    const admin = await staffUser(app, 'admin');
    await logIn(page, app.url, admin);
    await page.goto(`${app.url}/admin/bans`);
    expect(await styleOf(page.locator('#ban-days')), 'ban days').to.deep.equal(reference);
    expect(await styleOf(page.locator('#ban-reason')), 'ban reason').to.deep.equal(reference);
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
  });

  it('admin: a wide layout with audit dates on one line, targets linked (purged ones answer 404), and a separate danger zone', async () => {
    const admin = await staffUser(app, 'admin');
    const target = await signedInUser(app, { username: 'target_user' });
    const { page } = browser;
    await page.setViewportSize(DESKTOP);
    await logIn(page, app.url, admin);
    // Two audit entries about the account: a quota change and a sign-out.
    await page.goto(`${app.url}/admin/users/${target.id}`);
    await page.getByLabel(/^Storage quota/).fill('500 MB');
    await page.getByRole('button', { name: 'Set quota' }).click();
    await page.goto(`${app.url}/admin/audit`);
    const main = await box(page.locator('main'));
    expect(main.width, 'wider than the 52 rem reading column').to.be.above(52 * 16 + 100);
    const when = page.locator('#audit-table tbody tr td').first();
    expect((await box(when)).height, 'the date is on one line').to.be.below(2 * (await lineHeightOf(when)));
    const link = page.locator('#audit-table a', { hasText: target.id }).first();
    expect(await link.getAttribute('href')).to.equal(`/admin/users/${target.id}`);
    expect(await seriousA11yViolations(page), 'audit log').to.deep.equal([]);
    await link.click();
    await page.getByRole('heading', { name: 'User target_user' }).waitFor();

    // The user page: the everyday actions in one card, the two irreversible ones apart and told apart.
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      const zone = page.locator('#danger-zone');
      expect(await zone.getByRole('heading', { name: 'Danger zone' }).count()).to.equal(1);
      const del = zone.getByRole('button', { name: 'Delete the account' });
      const purge = zone.getByRole('button', { name: 'Purge now' });
      expect(await page.locator('section', { has: page.locator('#actions-heading') }).getByRole('button', { name: /Delete the account|Purge now/ }).count(), 'not among the everyday actions').to.equal(0);
      const [delBox, purgeBox] = [await box(del), await box(purge)];
      expect(overlaps(delBox, purgeBox)).to.equal(false);
      expect(purgeBox.y - (delBox.y + delBox.height), `${size.width}px: not side by side`).to.be.above(40);
      const look = (l: Locator) => l.evaluate((el) => getComputedStyle(el).backgroundColor);
      expect(await look(del), 'styled apart from Purge').not.to.equal(await look(purge));
      const zoneBorder = await zone.evaluate((el) => getComputedStyle(el).borderTopWidth);
      expect(parseFloat(zoneBorder)).to.be.at.least(2);
      expect(await seriousA11yViolations(page), `user page at ${size.width}px`).to.deep.equal([]);
    }

    // Purged: the audit link answers a plain 404 page, not an error.
    await reauth(admin);
    const purged = await admin.client.post(`/admin/users/${target.id}/purge`, { reason: 'test' }, { csrfPage: `/admin/users/${target.id}` });
    expect(purged.status, purged.body.toString().slice(0, 300)).to.be.below(400);
    await page.setViewportSize(DESKTOP);
    await page.goto(`${app.url}/admin/audit`);
    const gone = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/admin/users/${target.id}`)), page.locator('#audit-table a', { hasText: target.id }).first().click()]);
    expect(gone[0].status()).to.equal(404);
    expect(await page.locator('main').textContent()).to.match(/not found/i);
    expect(browser.consoleErrors.filter((e) => !e.includes('404'))).to.deep.equal([]);
  });

  it('phone header: "Log out" stays on the row of links, the name still in its accessible name', async () => {
    const admin = await staffUser(app, 'admin', { username: 'a_rather_long_name' });
    const { page } = browser;
    await logIn(page, app.url, admin);
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      await page.goto(`${app.url}/account/images`);
      const button = page.getByRole('button', { name: 'Log out a_rather_long_name' });
      expect(await button.count()).to.equal(1);
      const items = await page.locator('.site-nav > a, .site-nav > form').evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return { top: Math.round(r.top), bottom: Math.round(r.bottom), text: e.textContent?.trim() }; }));
      expect(items.length).to.equal(5);
      expect(new Set(items.map((i) => i.top)).size, `${size.width}px: one row ${JSON.stringify(items)}`).to.equal(1);
      expect((await box(button)).height, 'the button is one line').to.be.below(1.6 * (await lineHeightOf(button)));
      expect(await button.isVisible()).to.equal(true);
      // The name shows beside "Log out" on a desktop; on a phone it is clipped to nothing (screen readers still read it).
      const nameWidth = (await box(button.locator('.nav-user'))).width;
      if (size === PHONE) expect(nameWidth, 'the name is not shown on a phone').to.be.at.most(1);
      else expect(nameWidth, 'the name is shown on a desktop').to.be.above(50);
      expect(await seriousA11yViolations(page), `header at ${size.width}px`).to.deep.equal([]);
    }
  });
});
