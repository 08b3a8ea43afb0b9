import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { foreignRequests, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { multipart, rawRequest } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { imageCount, settled } from '../helpers/upload-list.js';

/**
 * BOT_PROTECTION=altcha in real Chromium, with the real widget served by Pixbin: the browser solves the proof of
 * work in a same-origin worker, and nothing is requested from any other origin. ALTCHA_COST is the default here,
 * so the solve time printed is the one the README quotes for this machine.
 */
describe('browser: ALTCHA, the self-hosted bot check', function () {
  this.timeout(120_000);
  let app: TestApp;
  let browser: TestBrowser;
  beforeEach(async () => {
    app = await startTestApp({ BOT_PROTECTION: 'altcha' }, { publicHost: 'localhost' });
    browser = await openBrowser();
  });
  afterEach(async () => {
    await browser.close();
    await app.close();
  });

  /** A guest upload sent over HTTP with a given ALTCHA answer, as the upload form would post it. */
  const uploadWithAnswer = async (answer: string, filename: string) => {
    const { body, contentType } = multipart([
      { name: 'altcha', value: answer },
      { name: 'file', value: await fixtures.png(), filename, contentType: 'image/png' },
    ]);
    return rawRequest(`${app.url}/upload`, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' }, body });
  };

  /** The widget's answer once it is solved (it starts on load). */
  const solvedAnswer = async (browser: TestBrowser): Promise<string> => {
    const field = browser.page.locator('altcha-widget input[name="altcha"]');
    await browser.page.waitForFunction(() => ((document.querySelector('altcha-widget input[name="altcha"]') as HTMLInputElement | null)?.value ?? '') !== '', undefined, { timeout: 60_000 });
    return field.inputValue();
  };

  it('a guest uploads from the home page; the page asks nothing of any other origin; the answer cannot be replayed', async () => {
    const { page } = browser;
    await page.goto(app.url);
    expect(await seriousA11yViolations(page), 'home page').to.deep.equal([]);
    const started = Date.now();
    const answer = await solvedAnswer(browser);
    const took = Date.now() - started;
    const solution = JSON.parse(Buffer.from(answer, 'base64').toString()) as { solution: { counter: number; time?: number } };
    console.log(`      ALTCHA_COST=${app.config.altcha!.cost}: solved in ${solution.solution.time ?? '?'} ms of work (counter ${solution.solution.counter}), ${took} ms after load`);

    await page.locator('#file').setInputFiles({ name: 'cat.png', mimeType: 'image/png', buffer: await fixtures.png() });
    await page.waitForURL(/\/upload\/\w+$/, { timeout: 60_000 });
    expect(await page.locator('#delete-link').count()).to.equal(1);
    expect(browser.consoleErrors, 'console errors and CSP reports').to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url), 'requests to other origins').to.deep.equal([]);
    expect(browser.requests.some((u) => u.includes('/altcha/challenge?action=upload'))).to.equal(true);
    expect(browser.requests.some((u) => u.endsWith('/static/altcha/pbkdf2.js'))).to.equal(true);

    // The same answer, sent again over HTTP: refused as spent.
    const replay = await uploadWithAnswer(answer, 'again.png');
    expect(replay.status).to.equal(403);
    expect(replay.json().error.code).to.equal('bot_check_replayed');
    expect(await imageCount(app)).to.equal(1);
  });

  it('several files at once: the widget solves a fresh challenge for each, and all upload', async () => {
    const { page } = browser;
    await page.goto(app.url);
    const png = await fixtures.png(64, 48);
    await page.locator('#file').setInputFiles(['a', 'b', 'c'].map((n) => ({ name: `${n}.png`, mimeType: 'image/png', buffer: png })));
    const done = await settled(page, 3);
    expect(done.map((r) => r.status)).to.deep.equal(['Uploaded.', 'Uploaded.', 'Uploaded.']);
    expect(await imageCount(app)).to.equal(3);
    expect(await app.db('altcha_spent')).to.have.length(3);
    expect(browser.requests.filter((u) => u.includes('/altcha/challenge?action=upload')).length).to.be.at.least(3);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('signs up with the widget solved in the page, with no request to any other origin; that answer is refused by another form', async () => {
    const { page } = browser;
    await page.goto(`${app.url}/signup`);
    expect(await seriousA11yViolations(page), 'sign-up page').to.deep.equal([]);
    await page.getByLabel('Username').fill('altchafan');
    await page.getByLabel('Email address').fill('altchafan@example.test');
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery staple');
    await page.locator('input[name="age"]').check();
    await page.locator('input[name="terms"]').check();
    const answer = await solvedAnswer(browser);
    // The page's answer was solved for sign-up: offered to the upload form it is refused (and not spent).
    const images = await imageCount(app);
    const elsewhere = await uploadWithAnswer(answer, 'elsewhere.png');
    expect(elsewhere.status).to.equal(403);
    expect(elsewhere.json().error.code).to.equal('bot_check_failed');
    expect(await imageCount(app)).to.equal(images);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    expect(await app.db('users').where({ username_key: 'altchafan' })).to.have.length(1);
    expect(browser.consoleErrors, 'console errors and CSP reports').to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url), 'requests to other origins').to.deep.equal([]);
  });
});
