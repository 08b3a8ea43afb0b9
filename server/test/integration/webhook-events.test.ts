import { expect } from 'chai';
import { createRepos, type Repos } from '../../db/repos.js';
import type { WebhookDelivery } from '../../db/webhooks.repo.js';
import { ACCOUNT_EVENTS, INSTANCE_EVENTS, recordWebhookEvent } from '../../services/webhook-events.js';
import { newWebhookSecret } from '../../services/webhook-signing.js';
import { fixtures } from '../fixtures/images.js';
import { ownerPost, ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { api, apiKeyFor } from '../helpers/api.js';
import { reportTarget, staffPost } from '../helpers/moderation.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';
import { apiUpload, expectProblem } from './api/api-helpers.js';

type Event = { type: string; timestamp: string; data: Record<string, unknown> };

/**
 * The outbox: every change that webhooks hear records its delivery rows in the change's own transaction, for the
 * endpoints of the right scope that subscribe to it, and a change that fails records nothing. Delivery itself is
 * tested in webhook-delivery.test.ts.
 */
describe('webhook events: recorded with the change that causes them', function () {
  this.timeout(60_000);
  let app: TestApp;
  let repos: Repos;
  let owner: TestUser;
  let key: string;
  let endpointId: string;

  const addEndpoint = async (ownerId: string | null, events: readonly string[]): Promise<string> => {
    const id = `we_${Math.random().toString(36).slice(2, 14)}`;
    await repos.webhooks.insertEndpoint({ id, ownerId, url: 'https://hooks.example.test/in', description: null, events: [...events], secret: newWebhookSecret(), createdAt: new Date() });
    return id;
  };
  const deliveries = async (id: string): Promise<WebhookDelivery[]> => (await repos.webhooks.listDeliveries(id, { before: null, limit: 100 })).reverse();
  const events = async (id: string): Promise<Event[]> => (await deliveries(id)).map((d) => JSON.parse(d.payload) as Event);

  beforeEach(async () => {
    // PUBLIC_URL on localhost, so that 127.0.0.1 in a payload could only be the client's address.
    app = await startTestApp({}, { publicHost: 'localhost' });
    repos = createRepos(app.db);
    owner = await signedInUser(app);
    ({ key } = await apiKeyFor(app, owner));
    endpointId = await addEndpoint(owner.id, ACCOUNT_EVENTS);
  });
  afterEach(() => app.close());

  it('an image uploaded, changed and deleted through the API: image.uploaded, image.updated, image.deleted, thin payloads, due at once', async () => {
    const up = await apiUpload(app, key, await fixtures.jpegWithGps(), { visibility: 'private' });
    expect(up.status).to.equal(201);
    const id = up.json.id as string;
    expect((await api(app, 'PATCH', `/api/v1/images/${id}`, { key, json: { title: 'Holiday at home', visibility: 'unlisted' } })).status).to.equal(200);
    expect((await api(app, 'DELETE', `/api/v1/images/${id}`, { key })).status).to.equal(204);

    const recorded = await deliveries(endpointId);
    expect(recorded.map((d) => d.eventType)).to.deep.equal(['image.uploaded', 'image.updated', 'image.deleted']);
    for (const d of recorded) {
      expect(d.id).to.match(/^msg_[0-9A-Za-z]{24}$/);
      expect(d).to.include({ status: 'pending', attempts: 0 });
      expect(d.nextAttemptAt!.getTime()).to.equal(d.createdAt.getTime());
    }
    const [uploaded, updated, deleted] = recorded.map((d) => JSON.parse(d.payload) as Event);
    expect(uploaded!.type).to.equal('image.uploaded');
    expect(new Date(uploaded!.timestamp).toISOString()).to.equal(uploaded!.timestamp);
    expect(uploaded!.data).to.include({ id, visibility: 'private', url: `${app.config.publicUrl}/i/${id}`, direct_url: `${app.config.publicUrl}/i/${id}.jpg`, type: 'image/jpeg' });
    expect(uploaded!.data).to.have.keys(['id', 'visibility', 'url', 'direct_url', 'thumbnail_url', 'display_url', 'type', 'size', 'width', 'height', 'created_at']);
    expect(updated!.data).to.include({ id, visibility: 'unlisted' });
    expect(deleted!.data).to.deep.equal({ id });
    const all = recorded.map((d) => d.payload).join('\n');
    for (const secret of [owner.email, owner.username, '127.0.0.1', 'Holiday']) expect(all, secret).not.to.include(secret);
    expect(all).not.to.match(/original_name|file_name|filename|title/);
  });

  it('a web upload with a file name records no trace of the name', async () => {
    const res = await ownerUpload(owner, await fixtures.png(), { filename: 'passport-scan-of-jane.png' });
    expect(res.status, res.body.toString()).to.equal(201);
    const [event] = await events(endpointId);
    expect(event!.type).to.equal('image.uploaded');
    expect(JSON.stringify(event)).not.to.include('passport');
  });

  it('albums: created, renamed, images added and removed, cover set, deleted', async () => {
    const image = (await apiUpload(app, key, await fixtures.png())).json.id as string;
    const album = (await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'Secret trip with Jane' } })).json;
    await api(app, 'PATCH', `/api/v1/albums/${album.id}`, { key, json: { title: 'Renamed' } });
    await api(app, 'PUT', `/api/v1/albums/${album.id}/images/${image}`, { key });
    await api(app, 'DELETE', `/api/v1/albums/${album.id}/images/${image}`, { key });
    expect((await api(app, 'DELETE', `/api/v1/albums/${album.id}`, { key })).status).to.equal(204);
    const recorded = await events(endpointId);
    expect(recorded.map((e) => e.type)).to.deep.equal(['image.uploaded', 'album.created', 'album.updated', 'album.updated', 'album.updated', 'album.deleted']);
    expect(recorded[1]!.data).to.deep.equal({ id: album.id, url: `${app.config.publicUrl}/a/${album.id}`, created_at: album.created_at });
    expect(recorded[5]!.data).to.deep.equal({ id: album.id });
    expect(JSON.stringify(recorded)).not.to.include('Jane');
  });

  it('a change that fails records nothing: another account’s image or album, a bad title', async () => {
    const other = await signedInUser(app);
    const otherKey = (await apiKeyFor(app, other)).key;
    const theirs = (await apiUpload(app, otherKey, await fixtures.png())).json.id as string;
    const theirAlbum = (await api(app, 'POST', '/api/v1/albums', { key: otherKey, json: { title: 'Theirs' } })).json.id as string;
    expectProblem(await api(app, 'PATCH', `/api/v1/images/${theirs}`, { key, json: { title: 'x' } }), 404, 'not_found', app);
    expectProblem(await api(app, 'DELETE', `/api/v1/images/${theirs}`, { key }), 404, 'not_found', app);
    expectProblem(await api(app, 'PATCH', `/api/v1/albums/${theirAlbum}`, { key, json: { title: 'x' } }), 404, 'not_found', app);
    expectProblem(await api(app, 'DELETE', `/api/v1/albums/${theirAlbum}`, { key }), 404, 'not_found', app);
    const mine = (await api(app, 'POST', '/api/v1/albums', { key, json: { title: 'Mine' } })).json.id as string;
    expectProblem(await api(app, 'PUT', `/api/v1/albums/${mine}/images/${theirs}`, { key }), 404, 'not_found', app);
    expect((await events(endpointId)).map((e) => e.type), 'only my own album was created').to.deep.equal(['album.created']);
  });

  it('an event recorded in a transaction that then fails is rolled back with it: nothing is delivered for a change that did not happen', async () => {
    const id = (await apiUpload(app, key, await fixtures.png())).json.id as string;
    const before = (await deliveries(endpointId)).length;
    // The change itself, then its event, then a failure later in the same transaction (as any later step may fail).
    const failed = await repos
      .transaction(async (tx) => {
        expect(await tx.images.updateOwned(owner.id, id, { visibility: 'public' })).to.equal(true);
        expect(await recordWebhookEvent({ clock: () => new Date() }, tx, { type: 'image.updated', ownerId: owner.id, data: { id } })).to.equal(1);
        expect(await tx.webhooks.listDeliveries(endpointId, { before: null, limit: 100 }), 'visible inside the transaction').to.have.length(before + 1);
        throw new Error('a later step failed');
      })
      .catch((err: Error) => err);
    expect((failed as Error).message).to.equal('a later step failed');
    expect(await deliveries(endpointId)).to.have.length(before);
    expect((await repos.images.findById(id))!.visibility, 'the change rolled back too').to.equal('unlisted');

  });

  it('a bulk deletion records one image.deleted per image and endpoint, each with its own webhook-id', async () => {
    const second = await addEndpoint(owner.id, ['image.deleted']);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await apiUpload(app, key, await fixtures.png())).json.id as string);
    expect((await ownerPost(owner, '/account/images/delete', { ids }, { json: true })).json()).to.deep.equal({ deleted: 3 });
    for (const endpoint of [endpointId, second]) {
      const deleted = (await events(endpoint)).filter((e) => e.type === 'image.deleted');
      expect(deleted.map((e) => e.data.id).sort()).to.deep.equal([...ids].sort());
    }
    const all = [...(await deliveries(endpointId)), ...(await deliveries(second))].filter((d) => d.eventType === 'image.deleted');
    expect(new Set(all.map((d) => d.id)).size).to.equal(6);
  });

  it('only enabled endpoints of the owner that subscribe to the event hear it', async () => {
    const onlyDeletes = await addEndpoint(owner.id, ['image.deleted']);
    const switchedOff = await addEndpoint(owner.id, ACCOUNT_EVENTS);
    await repos.webhooks.updateEndpoint(switchedOff, { enabled: false, disabledReason: 'owner', disabledAt: new Date() }, new Date());
    const other = await signedInUser(app);
    const othersEndpoint = await addEndpoint(other.id, ACCOUNT_EVENTS);
    const instance = await addEndpoint(null, INSTANCE_EVENTS);
    const id = (await apiUpload(app, key, await fixtures.png())).json.id as string;
    await api(app, 'DELETE', `/api/v1/images/${id}`, { key });
    expect((await events(endpointId)).map((e) => e.type)).to.deep.equal(['image.uploaded', 'image.deleted']);
    expect((await events(onlyDeletes)).map((e) => e.type)).to.deep.equal(['image.deleted']);
    expect(await events(switchedOff)).to.deep.equal([]);
    expect(await events(othersEndpoint)).to.deep.equal([]);
    expect(await events(instance)).to.deep.equal([]);
    const ids = new Set((await Promise.all([endpointId, onlyDeletes].map(deliveries))).flat().map((d) => d.id));
    expect(ids.size, 'every delivery has its own webhook-id').to.equal(3);
  });

  it('instance endpoints hear reports and decisions, never who reported or why staff decided; the owner hears the removal', async () => {
    const instance = await addEndpoint(null, INSTANCE_EVENTS);
    const moderator = await staffUser(app, 'moderator');
    const id = (await apiUpload(app, key, await fixtures.png(), { visibility: 'public' })).json.id as string;
    expect((await reportTarget(app, id, { reason: 'spam', details: 'Ads from shop-of-jane', email: 'reporter@example.test' })).status).to.equal(201);
    expect((await staffPost(moderator, `/admin/images/${id}/moderate`, { action: 'sensitive', reason: 'Statement for the uploader' })).status).to.be.below(400);
    await reauth(moderator);
    expect((await staffPost(moderator, `/admin/images/${id}/moderate`, { action: 'remove', reason: 'Removed for spam' })).status).to.be.below(400);

    const heard = await events(instance);
    expect(heard.map((e) => e.type)).to.deep.equal(['report.created', 'moderation.decided', 'moderation.decided']);
    expect(heard[0]!.data).to.deep.include({ target: { kind: 'image', id }, reason: 'spam', source: 'visitor' });
    expect(heard[1]!.data).to.deep.equal({ target: { kind: 'image', id }, decision: 'sensitive' });
    expect(heard[2]!.data).to.deep.equal({ target: { kind: 'image', id }, decision: 'remove' });
    const text = JSON.stringify(heard);
    for (const secret of ['reporter@example.test', 'shop-of-jane', 'Statement', 'Removed for', moderator.username, moderator.id, '127.0.0.1']) expect(text, secret).not.to.include(secret);
    expect((await events(endpointId)).map((e) => e.type), 'the owner hears the removal as a deletion').to.deep.equal(['image.uploaded', 'image.deleted']);
  });

  it('switching off an account’s endpoints locks the endpoints before their deliveries, the order the dispatcher’s record path uses (no deadlock)', async () => {
    await apiUpload(app, key, await fixtures.png());
    const statements: string[] = [];
    const listen = (q: { sql: string }) => statements.push(q.sql);
    app.db.on('query', listen);
    try {
      expect(await repos.webhooks.disableEndpointsOf(owner.id, 'account_deleted', new Date())).to.equal(1);
    } finally {
      app.db.off('query', listen);
    }
    const writes = statements.filter((sql) => /^update/i.test(sql)).map((sql) => /update\s+[`"]?(\w+)/i.exec(sql)![1]);
    expect(writes).to.deep.equal(['webhook_endpoints', 'webhook_deliveries']);
  });

  it('an account asking to be deleted: its endpoints fall silent (pending deliveries end), the instance hears account.deleted; cancelling switches them back on', async () => {
    const instance = await addEndpoint(null, INSTANCE_EVENTS);
    await apiUpload(app, key, await fixtures.png());
    const [pending] = await deliveries(endpointId);
    expect(pending!.status).to.equal('pending');
    const res = await owner.client.post('/account/settings/delete', { current_password: owner.password }, { csrfPage: '/account/settings' });
    expect(res.status).to.be.below(400);

    const endpoint = (await repos.webhooks.findEndpoint(endpointId))!;
    expect(endpoint).to.include({ enabled: false, disabledReason: 'account_deleted' });
    expect((await repos.webhooks.findDelivery(pending!.id))!.status, 'nothing more goes out for a departing account').to.equal('failed');
    const [gone] = await events(instance);
    expect(gone!.type).to.equal('account.deleted');
    expect(gone!.data).to.have.keys(['id', 'purge_at']);
    expect(gone!.data.id).to.equal(owner.id);
    expect(JSON.stringify(gone)).not.to.include(owner.email).and.not.to.include(owner.username);

    // Logging in during the grace period offers the restore; restoring switches the endpoints back on.
    const back = new WebClient(app.url);
    expect((await back.post('/login', { login: owner.username, password: owner.password })).headers.location).to.equal('/account/restore');
    expect((await back.post('/account/restore', {}, { csrfPage: '/account/restore' })).headers.location).to.equal('/account/images?done=restored');
    expect((await repos.webhooks.findEndpoint(endpointId))!).to.include({ enabled: true, disabledReason: null });
  });
});
