import { expect } from 'chai';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { foreignRequests, logIn, openBrowser, seriousA11yViolations, type TestBrowser } from '../helpers/browser.js';
import { staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { settledDeliveries as settled, verifyingReceiver } from '../helpers/webhook-receiver.js';

describe('browser: webhooks', function () {
  this.timeout(120_000);
  let app: TestApp;
  let browser: TestBrowser;
  let user: TestUser;
  let hook: Awaited<ReturnType<typeof verifyingReceiver>>;
  beforeEach(async () => {
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1' }, { publicHost: 'localhost', webhooks: true });
    user = await signedInUser(app);
    hook = await verifyingReceiver();
    browser = await openBrowser({ permissions: ['clipboard-read', 'clipboard-write'] });
  });
  afterEach(async () => {
    await browser.close();
    await hook.close();
    await app.close();
  });

  it('creates an endpoint, copies the secret shown once, sends a test event, sees it delivered and resends it', async () => {
    const { page } = browser;
    await logIn(page, app.url, user);
    await page.goto(`${app.url}/account/settings`);
    await page.locator('#webhooks-link').click();
    await page.waitForURL(`${app.url}/account/webhooks`);
    expect(await page.locator('#no-webhooks').textContent()).to.include('No endpoints');
    expect(await seriousA11yViolations(page), 'empty list').to.deep.equal([]);

    await page.getByLabel('URL', { exact: true }).fill(hook.url);
    await page.getByLabel('Description (optional)').fill('My laptop');
    await page.getByRole('checkbox', { name: /image\.uploaded/ }).check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('heading', { name: 'Your new webhook' }).waitFor();
    expect(await page.locator('#secret-once').textContent()).to.include('you will not see it again');
    const shown = await page.locator('#webhook-secret').inputValue();
    expect(shown).to.match(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(await seriousA11yViolations(page), 'secret page').to.deep.equal([]);
    await page.getByRole('button', { name: 'Copy Signing secret' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).to.equal(shown);
    hook.state.secret = copied;

    await page.locator('#back-to-webhook').click();
    await page.getByRole('button', { name: 'Send test event' }).waitFor();
    expect(await page.content(), 'the secret is shown only once').not.to.include(shown);
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.locator('#webhook-notice').waitFor();
    const endpointId = new URL(page.url()).pathname.split('/').pop()!;
    const [delivery] = await settled(app, endpointId, 1);
    expect(delivery).to.include({ status: 'delivered', event_type: 'webhook.test', last_response_code: 200 });
    expect(hook.state.got).to.have.length(1);
    expect(hook.state.got[0]).to.include({ verified: true });
    expect(hook.state.got[0]!.headers['webhook-id']).to.equal(delivery!.id);

    await page.reload();
    const row = page.locator(`tr[data-delivery="${delivery!.id}"]`);
    expect((await row.locator('.delivery-status').textContent())?.trim()).to.equal('delivered');
    await page.getByText('Answer (first 1 KB)').click();
    await page.getByText('verified, thank you').waitFor();
    expect(await seriousA11yViolations(page), 'endpoint page with its log').to.deep.equal([]);

    await row.getByRole('button', { name: /Resend/ }).click();
    await page.locator('#webhook-notice').waitFor();
    await settled(app, endpointId, 2);
    expect(hook.state.got).to.have.length(2);
    expect(hook.state.got[1]).to.include({ verified: true });
    expect(hook.state.got[1]!.headers['webhook-id'], 'a resend keeps the webhook-id').to.equal(delivery!.id);
    await page.reload();
    expect(await page.locator(`tr[data-delivery="${delivery!.id}"] .delivery-status`).textContent()).to.include('delivered');
    expect(await page.locator('.attempt-outcome').allTextContents()).to.deep.equal(['delivered', 'delivered']);

    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });

  it('an admin creates a site endpoint for moderation events after typing the password again', async () => {
    const admin = await staffUser(app, 'admin');
    const { page } = browser;
    await logIn(page, app.url, admin);
    await page.goto(`${app.url}/admin`);
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.waitForURL(`${app.url}/admin/webhooks`);
    await page.getByRole('heading', { name: 'Site webhooks' }).waitFor();
    expect(await page.getByRole('checkbox', { name: /image\.uploaded/ }).count(), 'account events are not offered').to.equal(0);
    await page.getByLabel('URL', { exact: true }).fill(hook.url);
    await page.getByRole('checkbox', { name: /report\.created/ }).check();
    await page.getByRole('checkbox', { name: /moderation\.decided/ }).check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();

    await page.locator('#reauth-held').waitFor();
    expect(await app.db('webhook_endpoints')).to.have.length(0);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.getByRole('heading', { name: 'Your new webhook' }).waitFor();
    hook.state.secret = await page.locator('#webhook-secret').inputValue();
    const [row] = await app.db('webhook_endpoints');
    expect(row).to.include({ owner_id: null, events: 'report.created,moderation.decided', url: hook.url });
    expect(await app.db('audit_log').where({ action: 'webhook.create', actor_id: admin.id })).to.have.length(1);

    await page.locator('#back-to-webhook').click();
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.locator('#webhook-notice').waitFor();
    const [delivery] = await settled(app, row.id, 1);
    expect(delivery).to.include({ status: 'delivered' });
    expect(hook.state.got.map((g) => g.verified)).to.deep.equal([true]);
    expect(await seriousA11yViolations(page), 'admin endpoint page').to.deep.equal([]);
    expect(foreignRequests(browser.requests, app.url)).to.deep.equal([]);
    expect(browser.consoleErrors).to.deep.equal([]);
  });
});
