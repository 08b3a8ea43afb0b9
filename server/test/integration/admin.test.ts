import { createContainer } from '../../container.js';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { JOBS } from '../../jobs/index.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { createRepos } from '../../db/repos.js';
import { recordPrivacyRequest } from '../../services/privacy-requests.service.js';
import { auditCsvLines, csvField } from '../../services/audit.service.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest } from '../helpers/http.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { reportTarget } from '../helpers/moderation.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

const MINUTE = 60_000;

describe('admin panel: access, dashboard, audit log, privacy requests', function () {
  this.timeout(60_000);
  let app: TestApp;
  let now: Date;
  let admin: TestUser;
  let moderator: TestUser;
  let user: TestUser;
  beforeEach(async () => {
    now = new Date();
    app = await startTestApp({ STAFF_REAUTH_MINUTES: '10' }, { clock: () => now });
    admin = await staffUser(app, 'admin');
    moderator = await staffUser(app, 'moderator');
    user = await signedInUser(app);
  });
  afterEach(() => app.close());

  const json = { Accept: 'application/json' };

  it('answers 404 to guests and users on every admin page, and never caches a staff page', async () => {
    for (const path of ['/admin', '/admin/audit', '/admin/audit.csv', '/admin/privacy-requests', '/admin/reauth']) {
      const guest = await rawRequest(`${app.url}${path}`);
      expect(guest.status, `guest ${path}`).to.equal(404);
      expect((await user.client.get(path)).status, `user ${path}`).to.equal(404);
      expect((await user.client.post(path, {}, { csrfPage: '/account/settings' })).status, `user POST ${path}`).to.equal(404);
    }
    const page = await admin.client.get('/admin');
    expect(page.status).to.equal(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    expect((await moderator.client.get('/admin')).status).to.equal(200);
    // The header links to the panel for staff only.
    expect(page.body.toString()).to.include('href="/admin"');
    expect((await user.client.get('/')).body.toString()).not.to.include('href="/admin"');
  });

  it('keeps privacy requests and account tools for admins: a moderator gets 404 there', async () => {
    expect((await moderator.client.get('/admin/privacy-requests')).status).to.equal(404);
    expect((await moderator.client.post('/admin/privacy-requests', { kind: 'access' }, { csrfPage: '/admin' })).status).to.equal(404);
    expect((await admin.client.get('/admin/privacy-requests')).status).to.equal(200);
  });

  it('the dashboard shows uploads, storage, queues, the last run of every job, configuration warnings and the version', async () => {
    const image = (await ownerUpload(user, await fixtures.png())).json();
    await reportTarget(app, image.id, { reason: 'spam' });
    await createScheduler(createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) }), JOBS).run('expire-sessions-and-tokens');
    await recordPrivacyRequest(createRepos(app.db), { kind: 'access', receivedAt: new Date(now.getTime() - 31 * 86_400_000) });
    const view = (await admin.client.get('/admin', json)).json();
    expect(view.uploadsPerDay.at(-1)).to.deep.equal({ day: now.toISOString().slice(0, 10), count: 1 });
    expect(view.storage.images).to.equal(1);
    expect(view.storage.bytes).to.be.greaterThan(100);
    expect(view.queues).to.deep.equal({ openReports: 1, counterNotices: 0, privacyRequestsPending: 1, privacyRequestsOverdue: 1 });
    expect(view.jobs.map((j: { job: string }) => j.job)).to.deep.equal(JOBS.map((j) => j.name));
    const ran = view.jobs.find((j: { job: string }) => j.job === 'expire-sessions-and-tokens');
    expect(ran.startedAt).to.be.a('string');
    expect(ran.error).to.equal(null);
    expect(view.jobs.find((j: { job: string }) => j.job === 'sweep-orphans').startedAt).to.equal(null);
    expect(view.warnings.join('\n')).to.include('TURNSTILE_SECRET_KEY is not set').and.include('SMTP_URL is not set').and.include('is not https');
    expect(view.version).to.match(/^\d+\.\d+\.\d+/);
    const html = (await admin.client.get('/admin')).body.toString();
    expect(html).to.include('data-job="expire-sessions-and-tokens"').and.include('id="config-warnings"');
    expect(view.outboundAllow).to.deep.equal([]);
    expect(html).to.match(/id="outbound-allow">Webhooks and upload by URL reach public addresses only/);
  });

  it('the dashboard shows which private destinations OUTBOUND_ALLOW opens to webhooks and upload by URL', async () => {
    const lan = await startTestApp({ OUTBOUND_ALLOW: 'homeassistant.lan, 192.168.1.0/24' });
    try {
      const lanAdmin = await staffUser(lan, 'admin');
      expect((await lanAdmin.client.get('/admin', json)).json().outboundAllow).to.deep.equal(['homeassistant.lan', '192.168.1.0/24']);
      const html = (await lanAdmin.client.get('/admin')).body.toString();
      expect(html).to.include('<code>homeassistant.lan</code>, <code>192.168.1.0/24</code>');
    } finally {
      await lan.close();
    }
  });

  it('destructive actions need the password again within STAFF_REAUTH_MINUTES; a wrong one is refused', async () => {
    const target = await signedInUser(app);
    const request = await recordPrivacyRequest(createRepos(app.db), { kind: 'erasure', receivedAt: now, userId: target.id, requester: target.email });
    const purge = `/admin/privacy-requests/${request.id}/purge`;
    expectJsonError(await admin.client.post(purge, {}, { csrfPage: '/admin/privacy-requests', json: true }), 403, 'reauth_required');
    const form = await admin.client.post(purge, {}, { csrfPage: '/admin/privacy-requests' });
    expect(form.status, 'the browser is asked for the password, the action held').to.equal(200);
    expect(form.body.toString()).to.include(`action="${purge}"`).and.include('name="reauth_password"');
    expect(await app.db('users').where({ id: target.id })).to.have.length(1);

    const wrong = await admin.client.post('/admin/reauth', { password: 'not it', next: '/admin/privacy-requests' }, { csrfPage: '/admin/reauth' });
    expect(wrong.status).to.equal(403);
    expect(wrong.body.toString()).to.include('id="reauth-error"');
    const ok = await admin.client.post('/admin/reauth', { password: admin.password, next: '//evil.example/admin' }, { csrfPage: '/admin/reauth' });
    expect(ok.status).to.equal(303);
    expect(ok.headers.location, 'never an outside address').to.equal('/admin');

    const done = await admin.client.post(purge, { note: 'Erasure done' }, { csrfPage: '/admin/privacy-requests', json: true });
    expect(done.status).to.equal(200);
    expect(await app.db('users').where({ id: target.id })).to.deep.equal([]);
    expect((await app.db('privacy_requests').where({ id: request.id }).first()).status).to.equal('done');

    // Later than the window, the password is needed again.
    now = new Date(now.getTime() + 11 * MINUTE);
    const other = await signedInUser(app);
    const second = await recordPrivacyRequest(createRepos(app.db), { kind: 'erasure', receivedAt: now, userId: other.id });
    expectJsonError(await admin.client.post(`/admin/privacy-requests/${second.id}/purge`, {}, { csrfPage: '/admin/privacy-requests', json: true }), 403, 'reauth_required');
    expect(await app.db('users').where({ id: other.id })).to.have.length(1);

    // Not another admin's account, nor the staff member's own, even through a request naming it.
    await reauth(admin);
    const otherAdmin = await staffUser(app, 'admin');
    for (const [account, status, code] of [[otherAdmin, 403, 'admin_target'], [admin, 400, 'cannot_target_self']] as const) {
      const named = await recordPrivacyRequest(createRepos(app.db), { kind: 'erasure', receivedAt: now, userId: account.id });
      expectJsonError(await admin.client.post(`/admin/privacy-requests/${named.id}/purge`, {}, { csrfPage: '/admin/privacy-requests', json: true }), status, code);
      expect(await app.db('users').where({ id: account.id })).to.have.length(1);
    }
  });

  it('records every staff action with who, what, target, reason, time and IP; the log cannot be changed or deleted', async () => {
    const created = await admin.client.post('/admin/privacy-requests', { kind: 'objection', requester: 'someone@example.test', note: 'by letter' }, { csrfPage: '/admin/privacy-requests', json: true });
    expect(created.status).to.equal(201);
    const id = created.json().request.id;
    now = new Date(now.getTime() + 1000);
    await admin.client.post(`/admin/privacy-requests/${id}`, { status: 'done', note: 'Answered' }, { csrfPage: '/admin/privacy-requests', json: true });

    const entries = (await admin.client.get(`/admin/audit?actor=${admin.username}`, json)).json().entries;
    expect(entries.map((e: { action: string }) => e.action)).to.deep.equal(['privacy_request.update', 'privacy_request.record']);
    expect(entries[0]).to.include({ actorName: admin.username, actorId: admin.id, targetType: 'privacy_request', targetId: id, reason: 'Answered', ip: '127.0.0.1' });
    expect(entries[0].createdAt).to.be.a('string');
    // The address lives in the security log, so its rotation removes it; the audit entry stays.
    const [row] = await app.db('audit_log').where({ id: entries[0].id });
    expect(row).not.to.have.property('ip');

    for (const attempt of [() => app.db('audit_log').where({ id: row.id }).update({ reason: 'rewritten' }), () => app.db('audit_log').where({ id: row.id }).delete()]) {
      const err = await attempt().then(() => null, (e: unknown) => e);
      expect(err, 'the database refuses').to.be.instanceOf(Error);
      expect(String(err)).to.include('append-only');
    }
    expect((await app.db('audit_log').where({ id: row.id }).first()).reason).to.equal('Answered');
    // No route changes it either.
    for (const method of ['PUT', 'PATCH', 'DELETE']) expect((await admin.client.request(`/admin/audit`, { method })).status, method).to.equal(404);

    const csv = await admin.client.get(`/admin/audit.csv?actor=${admin.username}`);
    expect(csv.headers['content-type']).to.equal('text/csv; charset=utf-8');
    const lines = csv.body.toString().trim().split('\n');
    expect(lines[0]).to.equal('time,actor,action,target_type,target_id,reason,ip,detail');
    expect(lines).to.have.length(3);
    expect(lines[1]).to.include(`"${admin.username}","privacy_request.update","privacy_request","${id}","Answered","127.0.0.1"`);
    expect(moderatorCanRead(await moderator.client.get('/admin/audit'))).to.equal(true);
  });

  it('writes CSV a spreadsheet cannot turn into a formula', () => {
    expect(csvField('=HYPERLINK("http://x")')).to.equal(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).to.equal(`"'+1"`);
    expect(csvField('plain, "quoted"')).to.equal('"plain, ""quoted"""');
    expect(csvField(null)).to.equal('""');
  });

  it('the audit CSV holds every entry when many share one timestamp across a batch boundary (one bulk decision)', async () => {
    const action = `test.bulk_${randomUUID().slice(0, 8)}`;
    const at = new Date('2026-11-20T12:00:00.000Z');
    const entries = Array.from({ length: 1100 }, (_, i) => ({
      id: randomUUID(),
      created_at: at,
      actor_id: moderator.id,
      actor_name: moderator.username,
      action,
      target_type: 'image',
      target_id: `img${String(i).padStart(5, '0')}`,
      reason: null,
      detail: '{}',
    }));
    for (let i = 0; i < entries.length; i += 100) await app.db('audit_log').insert(entries.slice(i, i + 100));
    const wanted = entries.map((e) => e.target_id).sort();

    // The route, with its real batch size (500): 1100 rows span three batches that all share one timestamp.
    const res = await moderator.client.get(`/admin/audit.csv?action=${action}`);
    expect(res.status).to.equal(200);
    const lines = res.body.toString().trim().split('\n');
    expect(lines[0]).to.equal('time,actor,action,target_type,target_id,reason,ip,detail');
    expect(lines.slice(1).map((l) => l.split(',')[4]!.replace(/"/g, '')).sort()).to.deep.equal(wanted);

    // The generator with a small batch: every boundary falls inside the run of equal timestamps.
    const lines7: string[] = [];
    for await (const line of auditCsvLines(createRepos(app.db), { action }, 7)) lines7.push(line);
    expect(lines7).to.have.length(1101);
    expect(new Set(lines7.slice(1)).size).to.equal(1100);
  });

  it('a staff account waiting for deletion is not staff any more', async () => {
    await app.db('users').where({ id: admin.id }).update({ deletion_requested_at: now });
    const client = new WebClient(app.url);
    for (const [k, v] of admin.client.cookies) client.cookies.set(k, v);
    expect((await client.get('/admin')).status).to.equal(404);
  });
});

function moderatorCanRead(res: { status: number; body: Buffer }): boolean {
  return res.status === 200 && res.body.toString().includes('id="audit-table"');
}
