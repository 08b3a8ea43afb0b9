import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import type { TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { reportTarget } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const MINUTE = 60_000;

/** The held form on a re-auth page: where it posts and its hidden fields. */
function heldForm(html: string): { action: string; fields: Array<[string, string]> } {
  const form = /<form method="post" action="([^"]*)"[^>]*id="reauth-form">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no re-auth form in ${html.slice(0, 300)}`);
  const unescape = (s: string) => s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  const fields = [...form[2]!.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [unescape(m[1]!), unescape(m[2]!)] as [string, string]);
  return { action: unescape(form[1]!), fields };
}

describe('staff re-authentication holds the destructive action and carries it through', function () {
  this.timeout(60_000);
  let app: TestApp;
  let now: Date;
  let moderator: TestUser;
  beforeEach(async () => {
    now = new Date();
    app = await startTestApp({ STAFF_REAUTH_MINUTES: '10' }, { clock: () => now });
    moderator = await staffUser(app, 'moderator');
  });
  afterEach(() => app.close());

  /** A browser's remove, sent from the queue page as its form would be. */
  const removeFromQueue = async (imageId: string, reason: string) => {
    const res = await moderator.client.post(`/admin/images/${imageId}/moderate`, { action: 'remove', reason, blocklist: 'yes' }, { csrfPage: '/admin/reports' });
    expect(res.status, res.body.toString().slice(0, 300)).to.equal(200);
    return heldForm(res.body.toString());
  };
  const sendHeld = (form: { action: string; fields: Array<[string, string]> }, password: string) =>
    moderator.client.post(form.action, [...form.fields, ['reauth_password', password]], { csrf: false });
  const auditOf = (imageId: string) => app.db('audit_log').where({ target_type: 'image', target_id: imageId }).pluck('action');

  it('with a stale re-auth, a removal asks for the password and then happens; the audit has it', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    await reportTarget(app, image.id, { reason: 'illegal' });
    // Re-authenticated once, but longer ago than the window.
    await reauth(moderator);
    now = new Date(now.getTime() + 11 * MINUTE);

    const form = await removeFromQueue(image.id, 'Unlawful content');
    expect(form.action).to.equal(`/admin/images/${image.id}/moderate`);
    expect(form.fields.map(([name]) => name)).to.have.members(['_csrf', 'action', 'reason', 'blocklist']);
    expect(Object.fromEntries(form.fields)).to.include({ action: 'remove', reason: 'Unlawful content', blocklist: 'yes' });
    expect((await rawRequest(image.url)).status, 'nothing done yet').to.equal(200);

    const done = await sendHeld(form, moderator.password);
    expect(done.status, done.body.toString().slice(0, 300)).to.equal(303);
    expect(done.headers.location).to.equal('/admin/reports');
    expect((await rawRequest(image.url)).status).to.equal(404);
    expect(await auditOf(image.id)).to.deep.equal(['image.remove']);
    expect(await app.db('recovery_items').where({ image_id: image.id }).first()).to.include({ reason: 'moderation', statement: 'Unlawful content' });
    expect((await app.db('hash_blocklist').where({ source_image_id: image.id })).length, 'the blocklist tick came through too').to.be.greaterThan(0);
    // The session now counts as re-authenticated: the next destructive action goes straight through.
    const second = (await upload(app.url, { bytes: await fixtures.webp() })).json();
    const direct = await moderator.client.post(`/admin/images/${second.id}/moderate`, { action: 'remove', reason: 'Same wave' }, { csrfPage: '/admin/reports' });
    expect(direct.status).to.equal(303);
    expect((await rawRequest(second.url)).status).to.equal(404);
  });

  it('a wrong password does not perform it, is logged, and the held form is offered again without the password', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const form = await removeFromQueue(image.id, 'Unlawful content');
    const wrong = await sendHeld(form, 'not the password');
    expect(wrong.status).to.equal(403);
    const html = wrong.body.toString();
    expect(html).to.include('id="reauth-error"').and.not.include('not the password');
    expect(heldForm(html)).to.deep.equal(form);
    expect((await rawRequest(image.url)).status).to.equal(200);
    expect(await auditOf(image.id)).to.deep.equal([]);
    const [failed] = await app.db('security_log').where({ event: 'account.reauth_failed', user_id: moderator.id });
    expect(JSON.parse(failed.detail)).to.include({ action: 'staff_reauth' });
    expect((await app.db('sessions').where({ user_id: moderator.id }).first()).reauth_at).to.equal(null);
    // An empty password is no better, and a held form with a forged token is refused by the CSRF check.
    expect((await sendHeld(form, '')).status).to.equal(403);
    const forged = { ...form, fields: form.fields.map(([n, v]) => [n, n === '_csrf' ? 'forged' : v] as [string, string]) };
    expectJsonError(await moderator.client.post(forged.action, [...forged.fields, ['reauth_password', moderator.password]], { csrf: false, json: true }), 403, 'csrf_failed');
    expect((await rawRequest(image.url)).status).to.equal(200);

    // Then the right one does it.
    expect((await sendHeld(form, moderator.password)).status).to.equal(303);
    expect((await rawRequest(image.url)).status).to.equal(404);
  });

  it('JSON clients still get 403 reauth_required, and a GET comes back to itself after the password', async () => {
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expectJsonError(await moderator.client.post(`/admin/images/${image.id}/moderate`, { action: 'remove', reason: 'x' }, { csrfPage: '/admin/reports', json: true }), 403, 'reauth_required');
    expectJsonError(await moderator.client.post(`/admin/images/${image.id}/moderate`, { action: 'remove', reason: 'x', reauth_password: moderator.password }, { csrfPage: '/admin/reports', json: true }), 403, 'reauth_required');
    expect((await rawRequest(image.url)).status).to.equal(200);
    const admin = await staffUser(app, 'admin');
    const path = `/admin/privacy-requests/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}/export`;
    const res = await admin.client.get(path);
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal(`/admin/reauth?next=${encodeURIComponent(path)}`);
  });
});
