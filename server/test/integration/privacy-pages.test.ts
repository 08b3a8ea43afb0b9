import { expect } from 'chai';
import { DELETE_LINK_COOKIE_MINUTES } from '../../http/one-time-secret.js';
import { ORPHAN_GRACE_MINUTES } from '../../jobs/sweep-orphans.job.js';
import { RESET_TTL_MINUTES, VERIFY_TTL_HOURS } from '../../services/auth.service.js';
import { LIMITS } from '../../services/rate-limits.service.js';
import { DEVICE_COOKIE_DAYS } from '../../services/known-devices.service.js';
import { fixtures } from '../fixtures/images.js';
import { signedInUser } from '../helpers/accounts.js';
import { until } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

const PAGES = ['/privacy', '/retention', '/subprocessors'];

/** The values the pages must show, by the source each number names. */
function expectedFigures(app: TestApp): Record<string, number | number[]> {
  const c = app.config;
  return {
    IP_LOG_RETENTION_DAYS: c.ipLogRetentionDays,
    API_LOG_RETENTION_DAYS: c.apiLogRetentionDays,
    WEBHOOK_LOG_RETENTION_DAYS: c.webhookLogRetentionDays,
    ACCOUNT_PURGE_DAYS: c.accountPurgeDays,
    RECOVERY_DAYS: c.recoveryDays,
    SESSION_IDLE_DAYS: c.sessionIdleDays,
    SESSION_MAX_DAYS: c.sessionMaxDays,
    GUEST_MAX_RETENTION_DAYS: c.guestRetention.maxDays,
    BCRYPT_COST: c.bcryptCost,
    VERIFY_TTL_HOURS,
    RESET_TTL_MINUTES,
    ORPHAN_GRACE_MINUTES,
    DELETE_LINK_COOKIE_MINUTES,
    DEVICE_COOKIE_DAYS,
    'rate limit windows': Math.max(...Object.values(LIMITS).map((l) => Math.max(l.duration, l.blockDuration))) / 60,
    // The guest's choices: each number is one of the configured options.
    GUEST_RETENTION_OPTIONS: c.guestRetention.options.filter((o) => o.hours !== null).map((o) => Number(/^\d+/.exec(o.key)![0])),
  };
}

/** Each number marked on the page with its source, and whatever digits are left once those are taken out. */
function figuresOn(html: string): { figures: Array<[string, number]>; strayDigits: string[] } {
  const main = html.slice(html.indexOf('<article'), html.indexOf('</article>'));
  const figures = [...main.matchAll(/<span data-figure="([^"]+)">(\d+)<\/span>/g)].map((m) => [m[1]!, Number(m[2])] as [string, number]);
  const rest = main
    .replace(/<span data-figure="[^"]+">\d+<\/span>/g, '')
    .replace(/<time[^>]*>[^<]*<\/time>/g, '')
    .replace(/Version [^,<]+/g, '')
    .replace(/Sec-GPC: 1/g, '')
    .replace(/SHA-256/g, '')
    .replace(/<[^>]+>/g, ' ');
  return { figures, strayDigits: rest.match(/\d+/g) ?? [] };
}

describe('privacy pages rendered from the live configuration', function () {
  this.timeout(30_000);
  let app: TestApp;
  afterEach(() => app?.close());

  it('every number on /privacy, /retention and /subprocessors is a setting or constant the code enforces, and equals it', async () => {
    app = await startTestApp({
      IP_LOG_RETENTION_DAYS: '45',
      API_LOG_RETENTION_DAYS: '23',
      WEBHOOK_LOG_RETENTION_DAYS: '19',
      ACCOUNT_PURGE_DAYS: '21',
      RECOVERY_DAYS: '9',
      SESSION_IDLE_DAYS: '33',
      SESSION_MAX_DAYS: '66',
      GUEST_MAX_RETENTION_DAYS: '12',
      POLICY_UPDATED: '2026-11-20',
      STORAGE_DRIVER: 'local', // the S3 pass's loopback endpoint would put its address on the pages
    });
    const expected = expectedFigures(app);
    const seen = new Set<string>();
    for (const path of PAGES) {
      const html = (await rawRequest(`${app.url}${path}`)).body.toString();
      expect(html, path).to.include('<time id="policy-updated" datetime="2026-11-20">2026-11-20</time>');
      const { figures, strayDigits } = figuresOn(html);
      expect(strayDigits, `${path}: numbers that come from no setting`).to.deep.equal([]);
      for (const [source, value] of figures) {
        expect(expected, `${path}: unknown source ${source}`).to.have.property(source);
        const allowed = expected[source]!;
        if (Array.isArray(allowed)) expect(allowed, `${path}: ${source}`).to.include(value);
        else expect(value, `${path}: ${source}`).to.equal(allowed);
        seen.add(source);
      }
    }
    // Every retention setting appears somewhere.
    for (const source of ['IP_LOG_RETENTION_DAYS', 'API_LOG_RETENTION_DAYS', 'WEBHOOK_LOG_RETENTION_DAYS', 'ACCOUNT_PURGE_DAYS', 'RECOVERY_DAYS', 'SESSION_IDLE_DAYS', 'SESSION_MAX_DAYS', 'GUEST_MAX_RETENTION_DAYS']) {
      expect([...seen], source).to.include(source);
    }
    const retention = (await rawRequest(`${app.url}/retention`)).body.toString();
    expect(retention).to.include('at most <span data-figure="GUEST_MAX_RETENTION_DAYS">12</span> days');
    const webhookRow = /<tr id="retention-webhook-log">.*?<\/tr>/.exec(retention)![0];
    expect(webhookRow).to.include('<span data-figure="WEBHOOK_LOG_RETENTION_DAYS">19</span> days').and.include('prune-webhook-log');
    expect((await rawRequest(`${app.url}/privacy`)).body.toString()).to.include('the webhook delivery log <span data-figure="WEBHOOK_LOG_RETENTION_DAYS">19</span> days after a delivery ends');
  });

  it('names no third party and no Turnstile when none is configured; lists each one the configuration brings in', async () => {
    app = await startTestApp({ STORAGE_DRIVER: 'local' });
    const none = (await rawRequest(`${app.url}/subprocessors`)).body.toString();
    expect(none).to.include('id="no-subprocessors"');
    // Webhooks and upload by URL contact only what users choose; with OUTBOUND_ALLOW empty, nothing private.
    expect(none).to.match(/id="outbound-note">[^<]*<strong>webhook<\/strong>/);
    expect(none).to.include('Private network addresses are refused.').and.not.include('id="outbound-allow"');
    const privacy = (await rawRequest(`${app.url}/privacy`)).body.toString();
    expect(privacy).not.to.include('Turnstile');
    expect(privacy).to.include('this server’s own disk').and.include('Page views are not logged.');
    expect(privacy).to.include('The operator of this installation has not published contact details yet.');
    await app.close();

    app = await startTestApp(
      {
        TURNSTILE_SITE_KEY: '1x00000000000000000000AA',
        TURNSTILE_SECRET_KEY: '1x0000000000000000000000000000000AA',
        SMTP_URL: 'smtp://mail.example.test:2525',
        STORAGE_DRIVER: 'local',
        PRIVACY_OPERATOR: 'Example Photo Club <e.V.>',
        PRIVACY_CONTACT: 'privacy@example.test',
        PRIVACY_INTRO: 'We host images for our members.\n\nSecond paragraph.',
        PRIVACY_JURISDICTION: 'German law applies.',
        PAGE_VIEW_LOGGING: 'true',
        OUTBOUND_ALLOW: 'homeassistant.lan,192.168.1.0/24',
      },
      { publicHost: 'localhost' },
    );
    const listed = (await rawRequest(`${app.url}/subprocessors`)).body.toString();
    expect(listed).to.include('except these, which the operator allows for webhooks and signed-in accounts: <span id="outbound-allow"><code>homeassistant.lan</code>, <code>192.168.1.0/24</code></span>');
    expect(listed).to.include('Cloudflare, Inc. (Turnstile)').and.include('the mail server at mail.example.test');
    const page = (await rawRequest(`${app.url}/privacy`)).body.toString();
    expect(page).to.include('Example Photo Club &lt;e.V.&gt;').and.include('privacy@example.test');
    expect(page).to.include('<p>We host images for our members.</p><p>Second paragraph.</p>').and.include('German law applies.');
    expect(page).to.include('id="page-view-note">Page views, with the IP address');
  });

  it('names the S3 provider when images live in a bucket', async () => {
    app = await startTestApp({ S3_BUCKET: 'pics', S3_ENDPOINT: 'https://abc123.r2.cloudflarestorage.com', STORAGE_DRIVER: 'local' });
    // The bucket is named but not used (STORAGE_DRIVER=local): the page says where images really are.
    expect((await rawRequest(`${app.url}/privacy`)).body.toString()).to.include('this server’s own disk');
    const { policyFacts } = await import('../../http/policy-facts.js');
    const facts = policyFacts({ ...app.config, storageDriver: 's3' });
    expect(facts.storage.name).to.equal('Cloudflare R2');
    expect(facts.subprocessors.map((s) => s.name)).to.deep.equal(['Cloudflare R2']);
    expect(facts.subprocessors[0]!.data).to.include('no visitor data');
    // When browsers fetch images from the bucket or a CDN, the page says they get the viewer's address.
    const presigned = policyFacts({ ...app.config, storageDriver: 's3', s3: { ...app.config.s3!, serveMode: 'presigned' } });
    expect(presigned.subprocessors[0]!.data).to.include('your IP address');
    const viaCdn = policyFacts({ ...app.config, storageDriver: 's3', s3: { ...app.config.s3!, serveMode: 'public', publicUrl: 'https://img.example.test' } });
    expect(viaCdn.subprocessors.map((s) => s.name)).to.deep.equal(['Cloudflare R2', 'the image delivery network at img.example.test']);
  });

  it('lists exactly the cookies the site sets, under their real names', async () => {
    app = await startTestApp();
    const page = (await rawRequest(`${app.url}/privacy`)).body.toString();
    const listed = [...page.matchAll(/<li><code>([^<]+)<\/code>:/g)].map((m) => m[1]);
    expect(listed).to.deep.equal(['pixbin_session', 'pixbin_csrf', 'pixbin_device', 'pixbin_delete_&lt;image id&gt;']);
    // And those are the only cookies a full visit sets: a form, an upload, a sign-up and login.
    const client = new WebClient(app.url);
    await client.get('/signup');
    const res = await upload(app.url, { bytes: await fixtures.png() }, { headers: { Accept: 'text/html' } });
    const member = await signedInUser(app);
    await member.client.get('/account/settings');
    expect([...member.client.cookies.keys()].sort()).to.deep.equal(['pixbin_csrf', 'pixbin_device', 'pixbin_session']);
    const names = new Set([...client.cookies.keys(), ...member.client.cookies.keys(), ...([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split('=')[0]!)]);
    for (const name of names) expect(name, name).to.match(/^(pixbin_session|pixbin_csrf|pixbin_device|pixbin_delete_\w{12})$/);
  });
});

describe('Global Privacy Control and optional page-view logging', function () {
  this.timeout(30_000);
  let app: TestApp;
  afterEach(() => app.close());

  const pageViews = async () => (await app.db('security_log').where({ event: 'page.view' })) as Array<{ ip: string; detail: string }>;
  // A page-view row is written after its response has gone out, so a test waits for the row of a later request
  // that is written (each insert is queued when its response finishes, in order): every earlier row is in by then.
  const routesLogged = async () => (await pageViews()).map((r) => JSON.parse(r.detail).route as string);

  it('is off by default: no page view is logged', async () => {
    app = await startTestApp();
    await rawRequest(`${app.url}/`);
    // The upload writes its own security-log row before it answers, after any row the page view would have queued.
    expect((await upload(app.url, { bytes: await fixtures.png() })).status).to.equal(201);
    expect(await app.db('security_log').where({ event: 'image.upload' })).to.have.length(1);
    expect(await pageViews()).to.deep.equal([]);
  });

  it('when turned on, logs HTML pages by route pattern only, never images, errors or a request with Sec-GPC: 1', async () => {
    app = await startTestApp({ PAGE_VIEW_LOGGING: 'true' });
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await rawRequest(`${app.url}/privacy`);
    await rawRequest(image.pageUrl);
    await rawRequest(image.url);
    await rawRequest(image.thumbnailUrl);
    await rawRequest(`${app.url}/i/AAAAAAAAAAAA`);
    await rawRequest(image.deleteUrl); // a page whose real path holds a secret
    await until(async () => (await routesLogged()).includes('/delete/:id/:key'), 'the page view of the last request');
    const logged = await pageViews();
    expect(logged.map((r) => JSON.parse(r.detail).route).sort()).to.deep.equal(['/delete/:id/:key', '/i/:id', '/privacy']);
    expect(logged.every((r) => r.ip === '127.0.0.1')).to.equal(true);
    expect(JSON.stringify(logged)).not.to.include(image.deleteUrl.split('/').pop());

    await app.db('security_log').where({ event: 'page.view' }).delete();
    for (const path of ['/', '/privacy', `/i/${image.id}`]) {
      const res = await rawRequest(`${app.url}${path}`, { headers: { 'Sec-GPC': '1' } });
      expect(res.status).to.equal(200);
    }
    await rawRequest(`${app.url}/privacy`); // without Sec-GPC: logged, after anything the requests above queued
    await until(async () => (await pageViews()).length > 0, 'the page view of a request without Sec-GPC');
    expect(await routesLogged(), 'a GPC request leaves no page-view row').to.deep.equal(['/privacy']);
    expect((await rawRequest(`${app.url}/privacy`, { headers: { 'Sec-GPC': '1' } })).body.toString()).to.include('Your browser sends it right now.');
  });

  it('records the country only from the configured header, and only as two letters', async () => {
    app = await startTestApp({ CONSENT_COUNTRY_HEADER: 'CF-IPCountry' });
    const post = async (username: string, country?: string) => {
      const client = new WebClient(app.url);
      const token = await client.csrfFrom('/signup');
      const body = Buffer.from(new URLSearchParams({ _csrf: token, username, email: `${username}@example.test`, password: 'correct horse battery staple', age: 'yes', terms: 'yes' }).toString());
      const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length) };
      if (country) headers['CF-IPCountry'] = country;
      expect((await client.request('/signup', { method: 'POST', headers, body })).status).to.equal(200);
    };
    await post('country_de', 'de');
    await post('country_bad', 'Germany');
    await post('country_tor', 'T1');
    await post('country_none');
    const countries = async (username: string) =>
      (await app.db('consent_log').join('users', 'users.id', 'consent_log.user_id').where('users.username', username).pluck('consent_log.country')) as Array<string | null>;
    expect(await countries('country_de')).to.deep.equal(['DE', 'DE', 'DE']);
    expect(await countries('country_bad')).to.deep.equal([null, null, null]);
    expect(await countries('country_tor')).to.deep.equal([null, null, null]);
    expect(await countries('country_none')).to.deep.equal([null, null, null]);
  });

  it('ignores the country header unless the operator names it', async () => {
    app = await startTestApp();
    const client = new WebClient(app.url);
    const token = await client.csrfFrom('/signup');
    const body = Buffer.from(new URLSearchParams({ _csrf: token, username: 'nocountry', email: 'nocountry@example.test', password: 'correct horse battery staple', age: 'yes', terms: 'yes' }).toString());
    await client.request('/signup', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length), 'CF-IPCountry': 'FR' }, body });
    expect(await app.db('consent_log').whereNotNull('country')).to.deep.equal([]);
  });
});
