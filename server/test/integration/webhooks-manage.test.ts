import { expect } from 'chai';
import { createRepos } from '../../db/repos.js';
import { createRateLimits } from '../../services/rate-limits.service.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { api, apiKeyFor } from '../helpers/api.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { settledDeliveries, verifyingReceiver } from '../helpers/webhook-receiver.js';
import { expectProblem } from './api/api-helpers.js';

const SECRET = /whsec_[A-Za-z0-9+/=]{40,}/g;
const html = (res: { body: Buffer }) => res.body.toString();
const countOf = async (app: TestApp, table: string) => Number(((await app.db(table).count({ n: '*' }).first()) as { n: number | string }).n);

/** The one secret on a page (it must be there exactly once). */
function secretFrom(page: string): string {
  const found = page.match(SECRET) ?? [];
  expect(found, 'the page shows the secret exactly once').to.have.length(1);
  return found[0]!;
}

type Form = { url?: string; description?: string; events?: string[] };
const fields = (form: Form): Array<[string, string]> => [
  ['url', form.url ?? 'https://hooks.example.com/pixbin?token=abc'],
  ['description', form.description ?? 'My receiver'],
  ...(form.events ?? ['image.uploaded', 'album.created']).map((e): [string, string] => ['events', e]),
];

/** Creates an endpoint on the account page; returns its id and the secret shown once. */
async function createOnPage(user: TestUser, form: Form = {}): Promise<{ id: string; secret: string; page: string }> {
  const res = await user.client.post('/account/webhooks', fields(form), { csrfPage: '/account/webhooks' });
  expect(res.status, html(res).slice(0, 400)).to.equal(201);
  const page = html(res);
  const id = /href="\/account\/webhooks\/(ep_[0-9A-Za-z]{20})"/.exec(page)?.[1];
  expect(id, 'the secret page links back to the endpoint').to.be.a('string');
  return { id: id!, secret: secretFrom(page), page };
}

describe('webhook management: account pages', () => {
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
  });
  afterEach(async () => app.close());

  it('creates an endpoint and shows its secret once, with no-store; the list and the endpoint page never show it', async () => {
    const settings = html(await alice.client.get('/account/settings'));
    expect(settings).to.include('href="/account/webhooks" id="webhooks-link"');
    const empty = await alice.client.get('/account/webhooks');
    expect(empty.status).to.equal(200);
    expect(html(empty)).to.include('id="no-webhooks"').and.include('webhook-signature');

    const res = await alice.client.post('/account/webhooks', fields({}), { csrfPage: '/account/webhooks' });
    expect(res.status).to.equal(201);
    expect(res.headers['cache-control']).to.equal('no-store');
    const secret = secretFrom(html(res));
    const [row] = await app.db('webhook_endpoints');
    expect(row).to.include({ owner_id: alice.id, url: 'https://hooks.example.com/pixbin?token=abc', description: 'My receiver', events: 'image.uploaded,album.created', secret });

    const list = await alice.client.get('/account/webhooks');
    expect(html(list)).to.include(row.id).and.include('image.uploaded, album.created').and.not.match(SECRET);
    const detail = await alice.client.get(`/account/webhooks/${row.id}`);
    expect(detail.status).to.equal(200);
    expect(detail.headers['cache-control']).to.equal('no-store');
    expect(html(detail)).to.include('Send test event').and.include('id="no-deliveries"').and.not.match(SECRET);
    expect(html(detail)).not.to.match(/<script(?![^>]*src=)/, 'no inline scripts');

    const logged = await app.db('security_log').where({ event: 'webhook.create', user_id: alice.id });
    expect(logged).to.have.length(1);
    expect(JSON.parse(logged[0].detail)).to.deep.include({ endpointId: row.id, host: 'hooks.example.com' });
    expect(logged[0].detail).not.to.include('token=abc').and.not.include('whsec_');
  });

  it('refuses bad URLs, events and descriptions with a clear 400, keeping the form and saving nothing', async () => {
    const cases: Array<[Form, RegExp]> = [
      [{ url: 'ftp://example.com/x' }, /http:\/\/ or https:\/\//],
      [{ url: 'not a url' }, /http:\/\/ or https:\/\//],
      [{ url: 'https://user:pw@example.com/x' }, /user name and password/],
      [{ url: `https://example.com/${'a'.repeat(2040)}` }, /at most 2048/],
      [{ url: 'http://127.0.0.1:9/x' }, /OUTBOUND_ALLOW/],
      [{ url: 'http://[::1]:9/x' }, /OUTBOUND_ALLOW/],
      [{ url: 'http://169.254.169.254/latest' }, /OUTBOUND_ALLOW/],
      [{ events: [] }, /at least one event/],
      [{ events: ['report.created'] }, /Events must be among: image\.uploaded/],
      [{ description: 'd'.repeat(201) }, /at most 200/],
    ];
    for (const [form, message] of cases) {
      const res = await alice.client.post('/account/webhooks', fields(form), { csrfPage: '/account/webhooks' });
      expect(res.status, JSON.stringify(form).slice(0, 80)).to.equal(400);
      const page = html(res);
      expect(page).to.include('id="create-error"');
      expect(page.replace(/&#39;|&#34;|&amp;/g, '')).to.match(message);
      if (form.description) expect(page).to.include(`value="${form.description}"`, 'the form keeps what was typed');
    }
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
    expect(await countOf(app, 'security_log').then(async () => (await app.db('security_log').where('event', 'like', 'webhook.%')).length)).to.equal(0);
  });

  it('another account’s endpoint is a 404 on every page and form, and nothing changes', async () => {
    const { id } = await createOnPage(alice);
    const mallory = await signedInUser(app);
    expect((await mallory.client.get(`/account/webhooks/${id}`)).status).to.equal(404);
    expect((await mallory.client.get('/account/webhooks/ep_nothere')).status).to.equal(404);
    const before = await app.db('webhook_endpoints').where({ id }).first();
    for (const action of ['', '/enable', '/disable', '/rotate', '/delete', '/test', '/deliveries/msg_AAAAAAAAAAAAAAAAAAAAAAAA/resend']) {
      const res = await mallory.client.post(`/account/webhooks/${id}${action}`, [...fields({ url: 'https://evil.example/x' }), ['confirm', 'yes']], { csrfPage: '/account/webhooks' });
      expect(res.status, action).to.equal(404);
      expect(html(res)).not.to.include('hooks.example.com');
    }
    expect(await app.db('webhook_endpoints').where({ id }).first()).to.deep.equal(before);
    expect(await countOf(app, 'webhook_deliveries')).to.equal(0);
    expect(html(await mallory.client.get('/account/webhooks'))).to.include('id="no-webhooks"');
  });

  it('refuses every form without a valid CSRF token', async () => {
    const { id } = await createOnPage(alice);
    for (const csrf of [false, 'forged-token'] as const) {
      expect((await alice.client.post('/account/webhooks', fields({}), { csrf })).status).to.equal(403);
      for (const action of ['', '/disable', '/rotate', '/delete', '/test']) expect((await alice.client.post(`/account/webhooks/${id}${action}`, [['confirm', 'yes']], { csrf })).status, action).to.equal(403);
    }
    expect(await countOf(app, 'webhook_endpoints')).to.equal(1);
    expect(await countOf(app, 'webhook_deliveries')).to.equal(0);
    expect((await app.db('webhook_endpoints').first()).enabled).to.satisfy(Boolean);
  });

  it('edits, disables (ending pending deliveries), re-enables (clearing why), rotates the secret and deletes with confirmation', async () => {
    const { id, secret } = await createOnPage(alice);
    const page = `/account/webhooks/${id}`;
    const edited = await alice.client.post(page, fields({ url: 'https://other.example/in', description: '', events: ['image.deleted'] }), { csrfPage: page });
    expect(edited.status).to.equal(303);
    expect(edited.headers.location).to.equal(`${page}?done=saved`);
    expect(await app.db('webhook_endpoints').where({ id }).first()).to.include({ url: 'https://other.example/in', description: null, events: 'image.deleted' });
    const unchanged = await alice.client.post(page, fields({ url: 'https://other.example/in', description: '', events: ['image.deleted'] }), { csrfPage: page });
    expect(unchanged.status, 'saving the form as it is changes nothing and records nothing').to.equal(303);
    expect(await app.db('security_log').where({ event: 'webhook.update', user_id: alice.id })).to.have.length(1);
    const refused = await alice.client.post(page, fields({ url: 'gopher://x' }), { csrfPage: page });
    expect(refused.status).to.equal(400);
    expect(html(refused)).to.include('id="webhook-error"').and.include('value="gopher://x"');

    // A pending delivery ends when the endpoint is switched off.
    expect((await alice.client.post(`${page}/test`, {}, { csrfPage: page })).headers.location).to.equal(`${page}?done=tested`);
    const disabled = await alice.client.post(`${page}/disable`, {}, { csrfPage: page });
    expect(disabled.status).to.equal(303);
    const off = await app.db('webhook_endpoints').where({ id }).first();
    expect(Boolean(off.enabled)).to.equal(false);
    expect(off.disabled_reason).to.equal('owner');
    expect((await app.db('webhook_deliveries').first()).status).to.equal('failed');
    const offPage = html(await alice.client.get(page));
    expect(offPage).to.include('id="webhook-disabled"').and.include('because it was switched off');
    // Nothing can be sent to an endpoint that is off.
    const test = await alice.client.post(`${page}/test`, {}, { csrfPage: page });
    expect(test.status).to.equal(409);
    expect(html(test)).to.include('Enable it first');

    // The dispatcher's reasons read as such on the page; enabling clears them all.
    await app.db('webhook_endpoints').where({ id }).update({ disabled_reason: 'gone', failing_since: new Date() });
    expect(html(await alice.client.get(page))).to.include('because the receiver answered 410 Gone');
    await app.db('webhook_endpoints').where({ id }).update({ disabled_reason: 'failing' });
    expect(html(await alice.client.get(page))).to.include('because deliveries kept failing');
    expect(html(await alice.client.get('/account/webhooks'))).to.include('disabled').and.include('because deliveries kept failing');
    expect((await alice.client.post(`${page}/enable`, {}, { csrfPage: page })).headers.location).to.equal(`${page}?done=enabled`);
    expect(await app.db('webhook_endpoints').where({ id }).first()).to.include({ disabled_reason: null, disabled_at: null, failing_since: null });

    const rotated = await alice.client.post(`${page}/rotate`, {}, { csrfPage: page });
    expect(rotated.status).to.equal(200);
    expect(rotated.headers['cache-control']).to.equal('no-store');
    const fresh = secretFrom(html(rotated));
    expect(fresh).not.to.equal(secret);
    expect(html(rotated)).to.include('id="rotation-note"');
    const row = await app.db('webhook_endpoints').where({ id }).first();
    expect(row).to.include({ secret: fresh, previous_secret: secret });
    expect(html(await alice.client.get(page))).to.include('still signs until').and.not.match(SECRET);

    const unconfirmed = await alice.client.post(`${page}/delete`, {}, { csrfPage: page });
    expect(unconfirmed.status).to.equal(400);
    expect(await countOf(app, 'webhook_endpoints')).to.equal(1);
    const deleted = await alice.client.post(`${page}/delete`, { confirm: 'yes' }, { csrfPage: page });
    expect(deleted.headers.location).to.equal('/account/webhooks?done=deleted');
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
    expect(await countOf(app, 'webhook_deliveries'), 'its log goes with it').to.equal(0);
    const events = (await app.db('security_log').where({ user_id: alice.id }).andWhere('event', 'like', 'webhook.%').orderBy('created_at')).map((r: { event: string }) => r.event);
    expect(events).to.have.members(['webhook.create', 'webhook.update', 'webhook.update', 'webhook.update', 'webhook.rotate_secret', 'webhook.delete']);
  });

  it('records a test event for that endpoint only, lists it, resends only the endpoint’s own finished deliveries', async () => {
    const one = await createOnPage(alice);
    const two = await createOnPage(alice, { url: 'https://two.example/in' });
    const page = `/account/webhooks/${one.id}`;
    await alice.client.post(`${page}/test`, {}, { csrfPage: page });
    const rows = await app.db('webhook_deliveries');
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ endpoint_id: one.id, event_type: 'webhook.test', status: 'pending' });
    expect(rows[0].id).to.match(/^msg_[0-9A-Za-z]{24}$/);
    const body = JSON.parse(rows[0].payload);
    expect(body).to.deep.include({ type: 'webhook.test', data: { endpoint_id: one.id } });
    expect(html(await alice.client.get(page))).to.include(rows[0].id).and.include('pending');

    // Still being tried: not resent.
    const pending = await alice.client.post(`${page}/deliveries/${rows[0].id}/resend`, {}, { csrfPage: page });
    expect(pending.status).to.equal(409);
    await app.db('webhook_deliveries').where({ id: rows[0].id }).update({ status: 'failed', attempts: 9, next_attempt_at: null, finished_at: new Date() });
    // Through the other endpoint's page, the delivery does not exist.
    expect((await alice.client.post(`/account/webhooks/${two.id}/deliveries/${rows[0].id}/resend`, {}, { csrfPage: page })).status).to.equal(404);
    const resent = await alice.client.post(`${page}/deliveries/${rows[0].id}/resend`, {}, { csrfPage: page });
    expect(resent.headers.location).to.equal(`${page}?done=resent`);
    expect(await app.db('webhook_deliveries').where({ id: rows[0].id }).first()).to.include({ status: 'pending', attempts: 0, finished_at: null });
  });

  it('sends a test event to a real receiver that verifies it, shows it delivered in the log, and resends it', async () => {
    await app.close();
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1' }, { webhooks: true });
    alice = await signedInUser(app);
    const hook = await verifyingReceiver(204);
    try {
      const created = await createOnPage(alice, { url: hook.url });
      hook.state.secret = created.secret;
      const page = `/account/webhooks/${created.id}`;
      await alice.client.post(`${page}/test`, {}, { csrfPage: page });
      const id = ((await app.db('webhook_deliveries').first()) as { id: string }).id;
      expect((await settledDeliveries(app, created.id, 1))[0]).to.include({ id, status: 'delivered', attempts: 1, last_response_code: 204 });
      expect(hook.state.got).to.have.length(1);
      expect(hook.state.got[0]).to.include({ verified: true });
      expect(hook.state.got[0]!.headers['webhook-id']).to.equal(id);
      expect(JSON.parse(hook.state.got[0]!.body)).to.deep.include({ type: 'webhook.test', data: { endpoint_id: created.id } });

      const log = html(await alice.client.get(page));
      expect(log).to.include(id).and.include('delivered').and.include('attempt-outcome">delivered</strong>, 204');

      await alice.client.post(`${page}/deliveries/${id}/resend`, {}, { csrfPage: page });
      expect((await settledDeliveries(app, created.id, 2))[0]).to.include({ id, status: 'delivered', attempts: 1 });
      expect(hook.state.got).to.have.length(2);
      expect(hook.state.got[1]!.headers['webhook-id'], 'the same webhook-id').to.equal(id);
      expect(hook.state.got[1]).to.include({ verified: true });
      expect(await countOf(app, 'webhook_attempts')).to.equal(2);
    } finally {
      await hook.close();
    }
  });

  it('pages through the delivery log', async () => {
    const { id } = await createOnPage(alice);
    const repos = createRepos(app.db);
    const t0 = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 25 }, (_, i) => `msg_${String(i).padStart(24, '0')}`);
    await repos.webhooks.insertDeliveries(ids.map((d, i) => ({ id: d, endpointId: id, eventType: 'image.uploaded', payload: '{}', createdAt: new Date(t0 + i * 1000) })));
    const first = html(await alice.client.get(`/account/webhooks/${id}`));
    const shownIds = (p: string) => [...p.matchAll(/data-delivery="(msg_\d+)"/g)].map((m) => m[1]);
    expect(shownIds(first)).to.deep.equal(ids.slice(5).reverse());
    const older = /href="([^"]+)" id="older-deliveries"/.exec(first)![1]!.replace(/&amp;/g, '&');
    const second = html(await alice.client.get(older));
    expect(shownIds(second)).to.deep.equal(ids.slice(0, 5).reverse());
    expect(second).not.to.include('id="older-deliveries"');
    expect((await alice.client.get(`/account/webhooks/${id}?before=nonsense`)).status).to.equal(400);
  });
});

describe('webhook management: API', () => {
  let app: TestApp;
  let alice: TestUser;
  let key: string;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
    // Image and album events need the matching read scope as well (an event tells what a read would).
    ({ key } = await apiKeyFor(app, alice, ['webhooks:manage', 'images:read', 'albums:read']));
  });
  afterEach(async () => app.close());

  const create = (k: string, json: unknown) => api(app, 'POST', '/api/v1/webhooks', { key: k, json });

  it('needs the webhooks:manage scope', async () => {
    const { key: other } = await apiKeyFor(app, alice, ['images:read', 'images:write', 'albums:read', 'albums:write', 'account:read']);
    for (const [method, path] of [
      ['GET', '/api/v1/webhooks'],
      ['POST', '/api/v1/webhooks'],
      ['GET', '/api/v1/webhooks/ep_AAAAAAAAAAAAAAAAAAAA'],
      ['GET', '/api/v1/webhooks/ep_AAAAAAAAAAAAAAAAAAAA/deliveries'],
    ] as const) {
      const body = expectProblem(await api(app, method, path, { key: other, json: method === 'POST' ? { url: 'https://a.example', events: ['image.uploaded'] } : undefined }), 403, 'insufficient_scope', app);
      expect(body.required_scope).to.equal('webhooks:manage');
    }
    expectProblem(await api(app, 'GET', '/api/v1/webhooks', {}), 401, 'api_key_required', app);
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
  });

  it('subscribing to image or album events needs images:read or albums:read too, on create and on change', async () => {
    const { key: only } = await apiKeyFor(app, alice, ['webhooks:manage']);
    expect(expectProblem(await create(only, { url: 'https://a.example/in', events: ['image.uploaded'] }), 403, 'insufficient_scope', app).required_scope).to.equal('images:read');
    expect(expectProblem(await create(only, { url: 'https://a.example/in', events: ['album.created'] }), 403, 'insufficient_scope', app).required_scope).to.equal('albums:read');
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
    const { key: images } = await apiKeyFor(app, alice, ['webhooks:manage', 'images:read']);
    const hook = await create(images, { url: 'https://a.example/in', events: ['image.deleted'] });
    expect(hook.status, hook.text).to.equal(201);
    expect(expectProblem(await api(app, 'PATCH', `/api/v1/webhooks/${hook.json.id}`, { key: images, json: { events: ['album.deleted'] } }), 403, 'insufficient_scope', app).required_scope).to.equal('albums:read');
    expect((await api(app, 'PATCH', `/api/v1/webhooks/${hook.json.id}`, { key: images, json: { description: 'still fine' } })).status).to.equal(200);
    expect((await api(app, 'GET', `/api/v1/webhooks/${hook.json.id}`, { key: images })).json.events).to.deep.equal(['image.deleted']);
    // Nor can a key without images:read redirect an endpoint that already carries image events (made on the web page, say).
    const { key: manageOnly } = await apiKeyFor(app, alice, ['webhooks:manage']);
    for (const json of [{ url: 'https://attacker.example/in' }, { enabled: true }, { description: 'x' }]) {
      expect(expectProblem(await api(app, 'PATCH', `/api/v1/webhooks/${hook.json.id}`, { key: manageOnly, json }), 403, 'insufficient_scope', app).required_scope).to.equal('images:read');
    }
    expect((await api(app, 'GET', `/api/v1/webhooks/${hook.json.id}`, { key: images })).json.url).to.equal('https://a.example/in');
  });

  it('creates (secret once), lists, reads, changes, rotates and deletes; the secret is never listed', async () => {
    const created = await create(key, { url: 'https://hooks.example.com/in', description: ' CI ', events: ['album.deleted', 'image.uploaded'] });
    expect(created.status, created.text).to.equal(201);
    const hook = created.json;
    expect(hook).to.include({ url: 'https://hooks.example.com/in', description: 'CI', enabled: true, disabled_reason: null, failing_since: null });
    expect(hook.events).to.deep.equal(['image.uploaded', 'album.deleted']);
    expect(hook.secret).to.match(/^whsec_/);
    expect(hook.id).to.match(/^ep_[0-9A-Za-z]{20}$/);

    const list = await api(app, 'GET', '/api/v1/webhooks', { key });
    expect(list.json.data).to.have.length(1);
    expect(list.text).not.to.include('whsec_').and.not.include('"secret"');
    const got = await api(app, 'GET', `/api/v1/webhooks/${hook.id}`, { key });
    expect(got.text).not.to.include('whsec_');
    const { secret: _s, ...withoutSecret } = hook;
    expect(got.json).to.deep.equal(withoutSecret);

    const patched = await api(app, 'PATCH', `/api/v1/webhooks/${hook.id}`, { key, json: { enabled: false } });
    expect(patched.json).to.include({ enabled: false, disabled_reason: 'owner' });
    expect(patched.text).not.to.include('whsec_');
    expectProblem(await api(app, 'POST', `/api/v1/webhooks/${hook.id}/test`, { key }), 409, 'webhook_disabled', app);
    const on = await api(app, 'PATCH', `/api/v1/webhooks/${hook.id}`, { key, json: { enabled: true, events: ['image.deleted'], description: null } });
    expect(on.json).to.include({ enabled: true, disabled_reason: null, disabled_at: null, description: null });
    expect(on.json.events).to.deep.equal(['image.deleted']);
    expectProblem(await api(app, 'PATCH', `/api/v1/webhooks/${hook.id}`, { key, json: {} }), 400, 'bad_request', app);

    const rotated = await api(app, 'POST', `/api/v1/webhooks/${hook.id}/rotate-secret`, { key });
    expect(rotated.status).to.equal(200);
    expect(rotated.json.secret).to.match(/^whsec_/).and.not.equal(hook.secret);
    expect(Date.parse(rotated.json.previous_secret_valid_until) - Date.now()).to.be.within(23 * 3_600_000, 24 * 3_600_000 + 60_000);
    expect((await api(app, 'GET', `/api/v1/webhooks/${hook.id}`, { key })).text).not.to.include('whsec_');

    expect((await api(app, 'DELETE', `/api/v1/webhooks/${hook.id}`, { key })).status).to.equal(204);
    expectProblem(await api(app, 'GET', `/api/v1/webhooks/${hook.id}`, { key }), 404, 'not_found', app);
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
  });

  it('refuses bad fields naming them, and more than 10 endpoints', async () => {
    const cases: Array<[unknown, number, string, string]> = [
      [{ url: 'javascript:alert(1)', events: ['image.uploaded'] }, 400, 'bad_webhook_url', 'url'],
      [{ url: 'https://u:p@a.example', events: ['image.uploaded'] }, 400, 'bad_webhook_url', 'url'],
      [{ url: 'http://10.0.0.1/x', events: ['image.uploaded'] }, 400, 'webhook_url_not_allowed', 'url'],
      [{ url: 'https://a.example', events: [] }, 400, 'no_events', 'events'],
      [{ url: 'https://a.example', events: ['account.deleted'] }, 400, 'bad_events', 'events'],
      [{ url: 'https://a.example', events: ['image.uploaded'], description: 'x'.repeat(201) }, 400, 'description_too_long', 'description'],
      [{ url: 'https://a.example' }, 400, 'missing_field', 'events'],
      [{ url: 'https://a.example', events: ['image.uploaded'], secret: 'whsec_mine' }, 400, 'unknown_field', 'secret'],
    ];
    for (const [json, status, code, field] of cases) expect(expectProblem(await create(key, json), status, code, app).field, code).to.equal(field);
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
    for (let i = 0; i < 10; i += 1) expect((await create(key, { url: `https://a.example/${i}`, events: ['image.uploaded'] })).status).to.equal(201);
    const eleventh = expectProblem(await create(key, { url: 'https://a.example/10', events: ['image.uploaded'] }), 409, 'too_many_webhooks', app);
    expect(eleventh.detail).to.include('at most 10');
    expect(await countOf(app, 'webhook_endpoints')).to.equal(10);
  });

  it('another account’s endpoint and deliveries are 404 on every verb', async () => {
    const hook = (await create(key, { url: 'https://a.example', events: ['image.uploaded'] })).json;
    const test = await api(app, 'POST', `/api/v1/webhooks/${hook.id}/test`, { key });
    expect(test.status).to.equal(202);
    expect(test.json).to.include({ event_type: 'webhook.test', status: 'pending', attempts: 0 });
    const bob = await signedInUser(app);
    const { key: bobKey } = await apiKeyFor(app, bob, ['webhooks:manage', 'images:read', 'albums:read']);
    const calls: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/webhooks/${hook.id}`],
      ['PATCH', `/api/v1/webhooks/${hook.id}`, { enabled: false }],
      ['DELETE', `/api/v1/webhooks/${hook.id}`],
      ['POST', `/api/v1/webhooks/${hook.id}/rotate-secret`],
      ['POST', `/api/v1/webhooks/${hook.id}/test`],
      ['GET', `/api/v1/webhooks/${hook.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${hook.id}/deliveries/${test.json.id}/resend`],
    ];
    for (const [method, path, json] of calls) expectProblem(await api(app, method, path, { key: bobKey, json }), 404, 'not_found', app);
    expect((await api(app, 'GET', '/api/v1/webhooks', { key: bobKey })).json.data).to.deep.equal([]);
    const row = await app.db('webhook_endpoints').where({ id: hook.id }).first();
    expect(row.secret).to.equal(hook.secret);
    expect(Boolean(row.enabled)).to.equal(true);
    expect(await countOf(app, 'webhook_deliveries')).to.equal(1);
  });

  it('pages the delivery log with a cursor, each delivery with its attempts, and resends a finished one', async () => {
    const hook = (await create(key, { url: 'https://a.example', events: ['image.uploaded'] })).json;
    const repos = createRepos(app.db);
    const t0 = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 7 }, (_, i) => `msg_${String(i).padStart(24, 'A')}`);
    await repos.webhooks.insertDeliveries(ids.map((id, i) => ({ id, endpointId: hook.id, eventType: 'image.uploaded', payload: '{}', createdAt: new Date(t0 + i * 1000) })));
    await repos.webhooks.recordAttempt(
      { deliveryId: ids[6]!, endpointId: hook.id, attemptedAt: new Date(t0 + 10_000), outcome: 'failed', responseCode: 500, durationMs: 12, responseExcerpt: 'oops', error: null },
      { status: 'failed', attempts: 1, nextAttemptAt: null, finishedAt: new Date(t0 + 10_000) },
    );
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const res = await api(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { key });
      expect(res.status, res.text).to.equal(200);
      pages.push(res.json.data.map((d: { id: string }) => d.id));
      if (pages.length === 1) {
        expect(res.json.data[0]).to.include({ id: ids[6], status: 'failed', attempts: 1, last_response_code: 500 });
        expect(res.json.data[0].attempt_log).to.deep.equal([{ attempted_at: new Date(t0 + 10_000).toISOString(), outcome: 'failed', response_code: 500, duration_ms: 12, response_excerpt: 'oops', error: null }]);
        expect(res.json.data[1].attempt_log).to.deep.equal([]);
      }
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(pages).to.deep.equal([ids.slice(4).reverse(), ids.slice(1, 4).reverse(), [ids[0]]]);
    // The same number of queries whatever the page size and however many attempts the page holds.
    const queriesFor = async (limit: number) => {
      let n = 0;
      // Only the log's own queries: the request log's row is written when the connection closes, racing this count.
      const count = (q: { sql: string }) => (n += /webhook_/.test(q.sql) ? 1 : 0);
      app.db.on('query', count);
      try {
        expect((await api(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=${limit}`, { key })).status).to.equal(200);
      } finally {
        app.db.off('query', count);
      }
      return n;
    };
    expect(await queriesFor(1)).to.equal(3);
    expect(await queriesFor(7)).to.equal(3);
    expectProblem(await api(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?cursor=abc`, { key }), 400, 'bad_cursor', app);
    expectProblem(await api(app, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=0`, { key }), 400, 'invalid_field', app);

    expectProblem(await api(app, 'POST', `/api/v1/webhooks/${hook.id}/deliveries/${ids[0]}/resend`, { key }), 409, 'delivery_pending', app);
    const resent = await api(app, 'POST', `/api/v1/webhooks/${hook.id}/deliveries/${ids[6]}/resend`, { key });
    expect(resent.status).to.equal(202);
    expect(resent.json).to.include({ id: ids[6], status: 'pending', attempts: 0, finished_at: null });
    expect(resent.json.attempt_log.map((a: { outcome: string }) => a.outcome), 'the earlier attempts stay in the log').to.deep.equal(['failed']);
  });
});

describe('webhook management: the site’s endpoints (admins only)', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(async () => app.close());

  it('are hidden from everyone but admins, and reachable from the admin nav', async () => {
    const user = await signedInUser(app);
    const moderator = await staffUser(app, 'moderator');
    for (const who of [user, moderator]) {
      expect((await who.client.get('/admin/webhooks')).status).to.equal(404);
      expect((await who.client.post('/admin/webhooks', fields({ events: ['report.created'] }), { csrfPage: '/account/settings' })).status).to.equal(404);
    }
    expect(html(await moderator.client.get('/admin'))).not.to.include('href="/admin/webhooks"');
    const admin = await staffUser(app, 'admin');
    const page = await admin.client.get('/admin/webhooks');
    expect(page.status).to.equal(200);
    expect(html(page)).to.include('href="/admin/webhooks" aria-current="page"').and.include('report.created').and.not.include('value="image.uploaded"');
  });

  it('an admin creates one after typing the password again; only instance events; audited; accounts never see it', async () => {
    const admin = await staffUser(app, 'admin');
    const held = await admin.client.post('/admin/webhooks', fields({ events: ['report.created', 'moderation.decided'] }), { csrfPage: '/admin/webhooks' });
    expect(html(held)).to.include('id="reauth-form"');
    expect(await countOf(app, 'webhook_endpoints')).to.equal(0);
    await reauth(admin);
    const wrong = await admin.client.post('/admin/webhooks', fields({ events: ['image.uploaded'] }), { csrfPage: '/admin/webhooks' });
    expect(wrong.status).to.equal(400);
    const res = await admin.client.post('/admin/webhooks', fields({ events: ['report.created', 'moderation.decided'] }), { csrfPage: '/admin/webhooks' });
    expect(res.status, html(res).slice(0, 300)).to.equal(201);
    secretFrom(html(res));
    const [row] = await app.db('webhook_endpoints');
    expect(row).to.include({ owner_id: null, events: 'report.created,moderation.decided' });
    const audit = await app.db('audit_log').where({ action: 'webhook.create' });
    expect(audit).to.have.length(1);
    expect(audit[0]).to.include({ actor_id: admin.id, target_type: 'webhook', target_id: row.id });

    const detail = `/admin/webhooks/${row.id}`;
    expect(html(await admin.client.get(detail))).to.include('Send test event').and.not.match(SECRET);
    expect((await admin.client.post(`${detail}/test`, {}, { csrfPage: detail })).status).to.equal(303);
    expect((await app.db('webhook_deliveries').first()).endpoint_id).to.equal(row.id);

    const user = await signedInUser(app);
    expect((await user.client.get(`/account/webhooks/${row.id}`)).status, 'not an account’s endpoint').to.equal(404);
    const { key } = await apiKeyFor(app, user, ['webhooks:manage']);
    expectProblem(await api(app, 'GET', `/api/v1/webhooks/${row.id}`, { key }), 404, 'not_found', app);
    expect((await api(app, 'GET', '/api/v1/webhooks', { key })).json.data).to.deep.equal([]);
    // And the admin's own account pages show only the admin's account endpoints.
    expect(html(await admin.client.get('/account/webhooks'))).to.include('id="no-webhooks"');
    // An account's endpoint is not the site's: a 404 on the admin pages too.
    const { key: adminKey } = await apiKeyFor(app, admin, ['webhooks:manage']);
    const own = (await api(app, 'POST', '/api/v1/webhooks', { key: adminKey, json: { url: 'https://mine.example', events: ['image.uploaded'] } })).json;
    expect((await admin.client.get(`/admin/webhooks/${own.id}`)).status).to.equal(404);
    expect(html(await admin.client.get('/admin/webhooks'))).not.to.include(own.id);
  });
});

describe('webhook management: test events and resends are rate limited per account', () => {
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { webhookTestPerAccount: { points: 3 } }) });
    alice = await signedInUser(app);
  });
  afterEach(async () => app.close());

  it('answers 429 with Retry-After once the account has spent its budget, on the page and in the API, recording nothing more; another account is not held up', async () => {
    const one = await createOnPage(alice);
    const two = await createOnPage(alice, { url: 'https://two.example/in' });
    const page = `/account/webhooks/${one.id}`;
    for (let i = 0; i < 2; i++) {
      const res = await alice.client.post(`${page}/test`, {}, { csrfPage: page });
      expect(res.status, `test ${i + 1}`).to.equal(303);
    }
    // A resend spends the same budget (the third point).
    const [first] = await app.db('webhook_deliveries').orderBy('id');
    await app.db('webhook_deliveries').where({ id: first.id }).update({ status: 'failed', next_attempt_at: null, finished_at: new Date() });
    expect((await alice.client.post(`${page}/deliveries/${first.id}/resend`, {}, { csrfPage: page })).status).to.equal(303);
    await app.db('webhook_deliveries').where({ id: first.id }).update({ status: 'failed', next_attempt_at: null, finished_at: new Date() });

    // The budget is the account's, not the endpoint's: the other endpoint is refused too.
    const refused = await alice.client.post(`/account/webhooks/${two.id}/test`, {}, { csrfPage: `/account/webhooks/${two.id}` });
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers['retry-after'])).to.be.within(1, 3600);
    expect(html(refused)).to.include('Too many test events and resends').and.include('new events are still sent meanwhile');
    expect(await countOf(app, 'webhook_deliveries'), 'nothing recorded').to.equal(2);
    const resend = await alice.client.post(`${page}/deliveries/${first.id}/resend`, {}, { csrfPage: page });
    expect(resend.status).to.equal(429);
    expect((await app.db('webhook_deliveries').where({ id: first.id }).first()).status, 'not resent').to.equal('failed');

    const { key } = await apiKeyFor(app, alice, ['webhooks:manage']);
    const body = expectProblem(await api(app, 'POST', `/api/v1/webhooks/${one.id}/test`, { key }), 429, 'rate_limited', app);
    expect(body.detail).to.include('Too many test events and resends');
    expectProblem(await api(app, 'POST', `/api/v1/webhooks/${one.id}/deliveries/${first.id}/resend`, { key }), 429, 'rate_limited', app);
    expect(await countOf(app, 'webhook_deliveries')).to.equal(2);

    // Someone else's budget is their own.
    const bob = await signedInUser(app);
    const bobs = await createOnPage(bob);
    expect((await bob.client.post(`/account/webhooks/${bobs.id}/test`, {}, { csrfPage: `/account/webhooks/${bobs.id}` })).status).to.equal(303);
    expect(await countOf(app, 'webhook_deliveries')).to.equal(3);
  });
});
