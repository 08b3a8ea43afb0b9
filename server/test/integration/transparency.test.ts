import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { aggregateDailyStats } from '../../jobs/aggregate-daily-stats.job.js';
import type { JobDeps } from '../../jobs/job.js';
import { parsePeriod, transparencyReport, type TransparencyReport } from '../../services/transparency.service.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { COPYRIGHT_NOTICE, reportTarget, staffPost } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** Every figure of a report, as section.key → value (null when suppressed). */
const valuesOf = (report: TransparencyReport) => Object.fromEntries(report.sections.flatMap((s) => s.rows.map((r) => [`${s.key}.${r.key}`, r.value])));
/** Every figure of the page, as data-figure → what it shows. */
const shownOn = (html: string) => Object.fromEntries([...html.matchAll(/data-figure="([\w.]+)" data-query="[^"]+">([^<]*)</g)].map((m) => [m[1], m[2]]));

describe('transparency report', function () {
  this.timeout(180_000);
  let app: TestApp;
  // audit_log is append-only and kept between tests (test-db.ts), so each test seeds its own year, far from any
  // other test's clock: its half-years hold only its own decisions. Years long past, so that these entries sort
  // after every other test's on the newest-first audit page.
  let year = 2000;
  let T = 0;
  let now = 0;
  let H1 = '';
  let H2 = '';
  let admin: TestUser;
  let owner: TestUser;
  let owner2: TestUser;
  let reporter: TestUser;
  const at = (ms: number) => {
    now = ms;
  };
  const moderate = (user: TestUser, id: string, action: string, reason = 'Against the rules', extra: Record<string, string> = {}) => staffPost(user, `/admin/images/${id}/moderate`, { action, reason, ...extra });

  beforeEach(async () => {
    year += 1;
    T = Date.UTC(year, 2, 2, 9);
    H1 = `${year}-H1`;
    H2 = `${year}-H2`;
    app = await startTestApp({ TRANSPARENCY_MIN_COUNT: '3', REPEAT_INFRINGER_STRIKES: '1' }, { clock: () => new Date(now) });
    at(T);
    admin = await staffUser(app, 'admin');
    owner = await signedInUser(app);
    owner2 = await signedInUser(app);
    reporter = await signedInUser(app);
    const img: Record<string, { id: string; url: string }> = {};
    for (const name of ['A', 'B', 'C', 'D', 'E', 'F']) img[name] = (await ownerUpload(owner, await fixtures.png())).json();
    img.G = (await ownerUpload(owner2, await fixtures.png())).json();

    // Reports: three spam and a copyright notice from visitors, one harassment report from a signed-in account.
    for (const name of ['A', 'B', 'C']) expect((await reportTarget(app, img[name]!.id, { reason: 'spam' })).status).to.equal(201);
    expect((await reportTarget(app, img.D!.id, { reason: 'harassment', details: 'my photo' }, 'image', reporter.client)).status).to.equal(201);
    expect((await reportTarget(app, img.F!.id, COPYRIGHT_NOTICE)).status).to.equal(201);

    // Privacy requests: two access, one erasure.
    const privacy: string[] = [];
    for (const kind of ['access', 'erasure', 'access']) privacy.push((await staffPost(admin, '/admin/privacy-requests', { kind, requester: 'someone@example.test', note: '' })).json().request.id);

    // Decisions 1, 2, 10, 20 and 30 hours after the reports; E is hidden with no report.
    at(T + 1 * HOUR);
    expect((await moderate(admin, img.A!.id, 'hide')).status).to.equal(200);
    at(T + 2 * HOUR);
    expect((await moderate(admin, img.B!.id, 'sensitive')).status).to.equal(200);
    at(T + 10 * HOUR);
    await reauth(admin);
    expect((await moderate(admin, img.C!.id, 'remove')).status).to.equal(200);
    at(T + 20 * HOUR);
    expect((await moderate(admin, img.D!.id, 'hide')).status).to.equal(200);
    expect((await moderate(admin, img.E!.id, 'hide')).status).to.equal(200);
    at(T + 30 * HOUR);
    // Upholding the notice suspends the owner under the repeat-infringer policy (one strike, for this test).
    expect((await moderate(admin, img.F!.id, 'hide', 'Copyright notice')).status).to.equal(200);
    expect((await app.db('users').where({ id: owner.id }).first()).suspended_at).not.to.equal(null);

    // A counter-notice recorded by staff, accepted, and F put back: a reinstatement. C comes back too (no notice).
    at(T + 31 * HOUR);
    const notice = await app.db('reports').where({ image_id: img.F!.id }).first();
    const counter = (await staffPost(admin, `/admin/copyright/${notice.id}/counter-notice`, { name: 'O. Owner', contact: 'post', statement: 'Mine.', signature: 'O. Owner', good_faith: 'yes', consent: 'yes' })).json().counterNotice;
    expect((await staffPost(admin, `/admin/counter-notices/${counter.id}`, { decision: 'accept', note: '' })).status).to.equal(200);
    expect((await moderate(admin, img.F!.id, 'restore', '')).status).to.equal(200);
    expect((await moderate(admin, img.C!.id, 'restore', '')).status).to.equal(200);

    // A suspension by hand, an upload ban, and a refused upload of a blocklisted picture.
    expect((await staffPost(admin, `/admin/images/${img.G!.id}/suspend-uploader`, { reason: 'Spam campaign' })).status).to.equal(200);
    expect((await staffPost(admin, '/admin/bans', { cidr: '203.0.113.0/24', days: '7', reason: 'Spam' })).status).to.equal(201);
    at(T + 40 * HOUR);
    const picture = await fixtures.png();
    const guest = (await upload(app.url, { bytes: picture, filename: 'h.png' })).json();
    await reauth(admin);
    expect((await moderate(admin, guest.id, 'remove', 'Unlawful', { blocklist: 'yes' })).status).to.equal(200);
    expectJsonError(await upload(app.url, { bytes: picture, filename: 'h.png' }), 422, 'upload_refused');

    // One access request answered on day 5 (on time), the erasure on day 40 (late); the other access never.
    at(T + 5 * DAY);
    admin = await staffUser(app, 'admin');
    expect((await staffPost(admin, `/admin/privacy-requests/${privacy[0]}`, { status: 'done', note: '' })).status).to.equal(200);
    at(T + 40 * DAY);
    admin = await staffUser(app, 'admin');
    expect((await staffPost(admin, `/admin/privacy-requests/${privacy[1]}`, { status: 'done', note: '' })).status).to.equal(200);

    // The period boundary: the last millisecond of June and the first of July.
    at(Date.parse(`${year}-06-30T23:59:59.999Z`));
    expect((await reportTarget(app, img.G!.id, { reason: 'other' })).status).to.equal(201);
    at(Date.parse(`${year}-07-01T00:00:00.000Z`));
    expect((await reportTarget(app, img.G!.id, { reason: 'spam' })).status).to.equal(201);
    at(Date.parse(`${year}-08-10T12:00:00Z`));
    admin = await staffUser(app, 'admin');
  });
  afterEach(() => app?.close());

  it('counts every figure of the first half-year exactly (threshold 1, through the service)', async () => {
    const repos = createRepos(app.db);
    const report = await transparencyReport(repos, parsePeriod(H1, new Date(now), new Date(T)), 1, new Date(now));
    expect(report.period).to.deep.include({ key: H1, current: false });
    expect(report.period.to.toISOString()).to.equal(`${year}-07-01T00:00:00.000Z`);
    expect(parsePeriod(H2, new Date(now), new Date(T))).to.deep.include({ current: true, label: `July to December ${year} (so far)` });
    expect(valuesOf(report)).to.deep.equal({
      'reports.reason.illegal': 0,
      'reports.reason.csam': 0,
      'reports.reason.copyright': 1,
      'reports.reason.harassment': 1,
      'reports.reason.spam': 3,
      'reports.reason.other': 1,
      'reports.total': 6,
      'sources.visitor': 5,
      'sources.account': 1,
      'sources.trusted': 0,
      'sources.unknown': 0,
      'decisions.kind.hide': 4,
      'decisions.kind.sensitive': 1,
      'decisions.kind.remove': 2,
      'decisions.kind.restore': 2,
      'decisions.kind.dismiss': 0,
      'grounds.ground.illegal': 0,
      'grounds.ground.csam': 0,
      'grounds.ground.copyright': 1,
      'grounds.ground.harassment': 1,
      'grounds.ground.spam': 3,
      'grounds.ground.other': 0,
      'grounds.ground.own_initiative': 2,
      'time.decided': 5,
      'time.median': 10 * HOUR,
      'time.p90': 30 * HOUR,
      'copyright.notices': 1,
      'copyright.counter_notices': 1,
      'copyright.counter_accepted': 1,
      'copyright.reinstatements': 1,
      'accounts.suspensions': 2,
      'accounts.repeat_infringer': 1,
      'accounts.upload_bans': 1,
      'accounts.refused': 1,
      'privacy.kind.access': 2,
      'privacy.kind.rectification': 0,
      'privacy.kind.erasure': 1,
      'privacy.kind.restriction': 0,
      'privacy.kind.objection': 0,
      'privacy.kind.portability': 0,
      'privacy.kind.other': 0,
      'privacy.total': 3,
      'privacy.on_time': 33,
    });
  });

  it('shows the half-year on the page with counts under the threshold as "fewer than N", and withholds what would let one be worked out, each traced to its query', async () => {
    const res = await rawRequest(`${app.url}/transparency?period=${H1}`);
    expect(res.status).to.equal(200);
    const html = res.body.toString();
    const shown = shownOn(html);
    // Reasons 1, 1, 3, 1 of 6: three hidden cells adding up to 3 would each be 1, and with Spam hidden too they
    // would add up to 6, the least they can (1 + 1 + 1 + at least 3), so the total goes as well. Sources 5 and 1 of
    // 6 would give the 1 away: the 5 is withheld.
    expect(shown).to.include({
      'reports.reason.spam': 'not shown',
      'reports.reason.harassment': 'fewer than 3',
      'reports.reason.copyright': 'fewer than 3',
      'reports.reason.other': 'fewer than 3',
      'reports.reason.csam': '0',
      'reports.total': 'not shown',
      'sources.visitor': 'not shown',
      'sources.account': 'fewer than 3',
      'copyright.notices': 'fewer than 3',
      'sources.trusted': '0',
      'decisions.kind.hide': '4',
      'decisions.kind.sensitive': 'fewer than 3',
      'decisions.kind.remove': 'fewer than 3',
      'grounds.ground.spam': '3',
      'grounds.ground.own_initiative': 'fewer than 3',
      'time.decided': '5',
      'time.median': '10 hours',
      'time.p90': '30 hours',
      'accounts.suspensions': 'fewer than 3',
      'accounts.refused': 'fewer than 3',
      'privacy.kind.access': 'fewer than 3',
      'privacy.kind.erasure': 'fewer than 3',
      'privacy.total': '3',
      'privacy.on_time': '33%',
    });
    expect(Object.keys(shown)).to.have.length(43);
    expect(html).to.include('reads “not shown”');
    expect(html).to.include('data-query="transparency.reportsByReason"');
    expect(html.match(/How counted:/g)).to.have.length(8);
    expect(html).to.include('<span data-figure="TRANSPARENCY_MIN_COUNT">3</span>');
    // No personal data: no email, username, id or address anywhere on the page.
    const images = await app.db('images').pluck('id');
    const reports = await app.db('reports').pluck('id');
    for (const secret of [owner.email, owner.username, owner2.username, reporter.email, reporter.username, admin.username, 'someone@example.test', 'ann@example.test', '203.0.113', '127.0.0.1', ...images, ...reports]) {
      expect(html, secret).not.to.include(secret);
    }
  });

  it('the current period runs up to now, the picker links every half-year, and bad periods are refused', async () => {
    const html = (await rawRequest(`${app.url}/transparency`)).body.toString();
    expect(html).to.include(`July to December ${year} (so far)`);
    expect(shownOn(html)).to.include({ 'reports.reason.spam': 'fewer than 3', 'reports.reason.other': '0', 'reports.total': 'fewer than 3', 'decisions.kind.hide': '0', 'time.median': 'not shown (fewer than 3 decided reports)' });
    const links = [...html.matchAll(/href="\/transparency\?period=([\w-]+)"( aria-current="page")?/g)].map((m) => `${m[1]}${m[2] ? '*' : ''}`);
    // Newest first, from the current half-year back to the first recorded one (other tests' kept audit entries may
    // reach further back), at most 20.
    expect(links.slice(0, 2)).to.deep.equal([`${H2}*`, H1]);
    expect(links.length).to.be.at.most(20);
    expect((await rawRequest(`${app.url}/transparency?period=${H1}`)).body.toString()).to.include(`href="/transparency?period=${H1}" aria-current="page"`);
    // Computed at most every five minutes per period: two more spam reports show once that has passed.
    const image = (await app.db('reports').where({ reason: 'spam' }).orderBy('created_at', 'desc').first()).image_id as string;
    for (let i = 0; i < 2; i++) expect((await reportTarget(app, image, { reason: 'spam' })).status).to.equal(201);
    expect(shownOn((await rawRequest(`${app.url}/transparency`)).body.toString())['reports.reason.spam']).to.equal('fewer than 3');
    at(now + 5 * 60 * 1000 + 1);
    expect(shownOn((await rawRequest(`${app.url}/transparency`)).body.toString())['reports.reason.spam']).to.equal('3');
    expectJsonError(await rawRequest(`${app.url}/transparency?period=${year}-H3`, { headers: { Accept: 'application/json' } }), 400, 'bad_period');
    expect((await rawRequest(`${app.url}/transparency?period=${year + 1}-H1`)).status).to.equal(404);
    // Two-digit years would be read as 19xx by Date.UTC: years under 1000 are malformed.
    for (const bad of ['0050-H1', '0000-H2', '0999-H1']) expectJsonError(await rawRequest(`${app.url}/transparency?period=${bad}`, { headers: { Accept: 'application/json' } }), 400, 'bad_period');
    // Before the half-year of the first record there is nothing to show: 404 (and so nothing cached for it).
    expect((await rawRequest(`${app.url}/transparency?period=1000-H1`)).status).to.equal(404);
    expect((await admin.client.get('/admin/transparency.json?period=1000-H1')).status).to.equal(404);
    expect((await admin.client.get('/admin/transparency.csv?period=0050-H1')).status).to.equal(400);
  });

  it('admins download the same suppressed figures as CSV and JSON; nobody else can', async () => {
    const json = await admin.client.get(`/admin/transparency.json?period=${H1}`);
    expect(json.status).to.equal(200);
    const report = json.json() as { period: { key: string }; sections: Array<{ key: string; rows: Array<{ key: string; value: number | null; display: string }> }> };
    expect(report.period.key).to.equal(H1);
    const reports = report.sections.find((s) => s.key === 'reports')!.rows;
    expect(reports.find((r) => r.key === 'reason.harassment')).to.include({ value: null, display: 'fewer than 3' });
    expect(reports.find((r) => r.key === 'reason.spam')).to.include({ value: null, display: 'not shown' });
    expect(reports.find((r) => r.key === 'total')).to.include({ value: null, display: 'not shown' });
    const csv = await admin.client.get(`/admin/transparency.csv?period=${H1}`);
    expect(csv.status).to.equal(200);
    expect(String(csv.headers['content-type'])).to.match(/^text\/csv/);
    const lines = csv.body.toString().trim().split('\n');
    expect(lines[0]).to.equal('period,section,figure,label,value,shown_as,query');
    expect(lines).to.have.length(44);
    expect(lines).to.include(`"${H1}","reports","reason.spam","Spam","","not shown","transparency.reportsByReason"`);
    expect(lines).to.include(`"${H1}","privacy","total","All requests","3","3","transparency.privacyRequests (count)"`);
    expect(lines).to.include(`"${H1}","reports","reason.harassment","Harassment or privacy violation","","fewer than 3","transparency.reportsByReason"`);
    // Formula-safe: the "− " query notes never start a cell with a formula character.
    for (const line of lines.slice(1)) for (const cell of line.split('","')) expect(cell.replace(/^"/, '')).not.to.match(/^[=+\-@]/);

    // The page offers the downloads to admins only.
    expect((await admin.client.get(`/transparency?period=${H1}`)).body.toString()).to.include(`href="/admin/transparency.csv?period=${H1}"`);
    expect((await rawRequest(`${app.url}/transparency?period=${H1}`)).body.toString()).not.to.include('/admin/transparency');

    const moderator = await staffUser(app, 'moderator');
    const user = await signedInUser(app);
    for (const client of [moderator.client, user.client, new WebClient(app.url)]) {
      expect((await client.get('/admin/transparency.json')).status).to.equal(404);
      expect((await client.get('/admin/transparency.csv')).status).to.equal(404);
    }
    expect((await moderator.client.get('/transparency')).body.toString()).not.to.include('/admin/transparency');
  });

  it('figures survive the security log’s rotation: refusals through daily_stats, report sources kept on each report; only reports from before the source was recorded are "not known"', async () => {
    const repos = createRepos(app.db);
    await aggregateDailyStats.run({ repos } as unknown as JobDeps, new Date(now));
    await app.db('security_log').delete();
    const report = await transparencyReport(repos, parsePeriod(H1, new Date(now), new Date(T)), 1, new Date(now));
    expect(valuesOf(report)).to.include({ 'accounts.refused': 1, 'sources.visitor': 5, 'sources.account': 1, 'sources.unknown': 0, 'reports.total': 6 });
    // A report stored before the source column existed (as an upgraded installation has them).
    await app.db('reports').update({ source: null }).where({ source: 'account' });
    const older = await transparencyReport(repos, parsePeriod(H1, new Date(now), new Date(T)), 1, new Date(now));
    expect(valuesOf(older)).to.include({ 'sources.visitor': 5, 'sources.account': 0, 'sources.unknown': 1 });
  });

  it('every page links to the report in its footer, next to Privacy', async () => {
    for (const path of ['/', '/privacy', '/terms', '/transparency', '/login', '/no-such-page']) {
      const html = (await rawRequest(`${app.url}${path}`)).body.toString();
      expect(html, path).to.include('<a href="/privacy">Privacy</a> · <a href="/transparency">Transparency</a>');
    }
    expect((await admin.client.get('/admin')).body.toString()).to.include('href="/transparency"');
  });
});
