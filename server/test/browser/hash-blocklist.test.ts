import { expect } from 'chai';
import { scene } from '../fixtures/scenes.js';
import { signedInUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

describe('browser: removing with the hash blocklist refuses the same image later', function () {
  this.timeout(90_000);
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

  it('a moderator ticks “Also refuse re-uploads” while removing from the queue; uploading the image again shows the neutral message', async () => {
    const photo = await scene(7);
    const image = (await upload(app.url, { bytes: photo, filename: 'photo.jpg' })).json();
    const reported = await new WebClient(app.url).post(`/report/${image.id}`, { reason: 'illegal', details: 'Unlawful' }, { csrfPage: `/report/${image.id}`, json: true });
    expect(reported.status).to.equal(201);
    const moderator = await signedInUser(app, { username: 'blocklist_mod' });
    await app.db('users').where({ id: moderator.id }).update({ role: 'moderator' });
    const { page } = browser;

    await logIn(page, app.url, moderator);
    await page.waitForURL(/\/account\/images$/);
    // Removing destroys, so it needs the password again first.
    await page.goto(`${app.url}/admin/reauth?next=/admin/reports`);
    await page.getByLabel('Password').fill(moderator.password);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/admin\/reports$/);

    const group = page.locator(`#group-${image.id}`);
    await group.getByLabel('Decision').selectOption('remove');
    await group.getByLabel('Reason (shown to the uploader)').fill('Unlawful content');
    await group.getByLabel('Also refuse re-uploads of this image (hash blocklist)').check();
    expect(await seriousA11yViolations(page), 'queue').to.deep.equal([]);
    await group.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#queue-empty').waitFor();
    expect((await rawRequest(image.url)).status).to.equal(404);

    await page.getByRole('link', { name: 'Blocklist' }).click();
    const entries = page.locator('#blocklist');
    expect(await entries.textContent()).to.include(image.id).and.include('Unlawful content').and.include(moderator.username);
    expect(await seriousA11yViolations(page), 'blocklist page').to.deep.equal([]);

    // Anyone uploading the same picture is told, neutrally, that it cannot be uploaded.
    await browser.context.clearCookies();
    await page.goto(app.url);
    await page.locator('#file').setInputFiles({ name: 'again.jpg', mimeType: 'image/jpeg', buffer: photo });
    await page.locator('#status.error').filter({ hasText: 'This image can’t be uploaded here.' }).waitFor();
    expect(Number((await app.db('images').count({ n: '*' }))[0]!.n), 'image rows').to.equal(0);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
  });
});
