import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { upload } from '../helpers/http.js';
import { reportTarget } from '../helpers/moderation.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const WIDTHS = [1280, 390] as const;

/**
 * Issue 17: "axe stays at zero serious violations on every page", at desktop and phone width, and no page scrolls
 * sideways on a phone. One admin walks every page a guest, an account and staff can open, in real Chromium.
 */
describe('browser: every page, at 1280 and 390 px', function () {
  this.timeout(300_000);
  let app: TestApp;
  let browser: TestBrowser;
  before(async () => {
    app = await startTestApp({}, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  after(async () => {
    await browser.close();
    await app.close();
  });

  it('has no serious axe violation and no sideways scrolling on any page, and loads nothing from another site', async () => {
    const admin = await staffUser(app, 'admin');
    const image = (await ownerUpload(admin, await fixtures.png(640, 480), { filename: 'sweep.png' })).json() as { id: string };
    await app.db('images').where({ id: image.id }).update({ visibility: 'public' });
    const guest = (await upload(app.url, { bytes: await fixtures.png(), filename: 'guest.png' })).json() as { id: string; deleteUrl: string };
    await reportTarget(app, image.id, { reason: 'spam', details: 'Sweep' });
    const albumRes = await admin.client.post('/account/albums', { title: 'Sweep album' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(albumRes.headers.location))![1]!;

    const guestPages = [
      '/',
      '/privacy',
      '/retention',
      '/subprocessors',
      '/terms',
      '/transparency',
      '/login',
      '/signup',
      '/forgot-password',
      `/i/${image.id}`,
      `/a/${albumId}`,
      `/u/${admin.username}`,
      `/report/${image.id}`,
      new URL(guest.deleteUrl).pathname,
      '/api/docs',
      '/no-such-page',
    ];
    const signedInPages = [
      '/account/images',
      '/account/albums',
      `/account/albums/${albumId}`,
      '/account/settings',
      '/account/sessions',
      '/account/api-keys',
      '/account/webhooks',
      '/admin',
      '/admin/reports',
      '/admin/images',
      `/admin/images/${image.id}`,
      '/admin/copyright',
      '/admin/bans',
      '/admin/blocklist',
      '/admin/audit',
      '/admin/privacy-requests',
      '/admin/users',
      `/admin/users/${admin.id}`,
      '/admin/webhooks',
      '/admin/reauth',
    ];

    const { page } = browser;
    const problems: string[] = [];
    const sweep = async (paths: string[]) => {
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        for (const path of paths) {
          const res = await page.goto(`${app.url}${path}`);
          expect(res, path).to.not.equal(null);
          if (path !== '/no-such-page') expect(res!.status(), `${path} answers`).to.be.below(400);
          for (const violation of await seriousA11yViolations(page)) problems.push(`${width}px ${path}: ${violation}`);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          if (overflow > 0) problems.push(`${width}px ${path}: scrolls sideways by ${overflow} px`);
        }
      }
    };
    await sweep(guestPages);
    await logIn(page, app.url, admin);
    await sweep([...signedInPages, ...guestPages.slice(0, 3)]);
    expect(problems).to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });
});
