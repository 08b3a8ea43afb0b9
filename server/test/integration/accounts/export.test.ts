import { expect } from 'chai';
import http from 'node:http';
import pino from 'pino';
import { createContainer } from '../../../container.js';
import { createRepos } from '../../../db/repos.js';
import { purgeAccount } from '../../../services/account-deletion.service.js';
import { EXPORTED_TABLES } from '../../../services/export.service.js';
import { webhookBody } from '../../../services/webhook-events.js';
import { newWebhookSecret } from '../../../services/webhook-signing.js';
import { fixtures } from '../../fixtures/images.js';
import { ownerPost, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';
import { unzip } from '../../helpers/zip.js';

/** Tables with a column that names a user: a foreign key to users, or an owner_id/user_id column. */
async function tablesReferencingUsers(app: TestApp): Promise<string[]> {
  if (app.db.dialect === 'postgres') {
    const { rows } = await app.db.raw<{ rows: Array<{ table_name: string }> }>(
      `select distinct c.table_name from information_schema.columns c
        where c.table_schema = 'public' and c.column_name in ('user_id', 'owner_id')
       union
       select distinct tc.table_name from information_schema.table_constraints tc
         join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name
        where tc.constraint_type = 'FOREIGN KEY' and ccu.table_name = 'users'`,
    );
    return rows.map((r) => r.table_name).sort();
  }
  const tables = (await app.db.raw<Array<{ name: string }>>("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")).map((r) => r.name);
  const out: string[] = [];
  for (const table of tables) {
    const columns = await app.db.raw<Array<{ name: string }>>(`pragma table_info(${table})`);
    const keys = await app.db.raw<Array<{ table: string }>>(`pragma foreign_key_list(${table})`);
    if (columns.some((c) => c.name === 'user_id' || c.name === 'owner_id') || keys.some((k) => k.table === 'users')) out.push(table);
  }
  return out.sort();
}

describe('accounts: data export (access and portability)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app, { username: 'alice_export', email: 'alice.export@example.test' });
  });
  afterEach(() => app.close());

  it('streams a ZIP with account.json (everything stored about the user, no secrets) and every original, under safe names', async () => {
    const png = (await ownerUpload(alice, await fixtures.png(), { filename: '../../etc/passwd.png' })).json();
    const jpg = (await ownerUpload(alice, await fixtures.jpegWithGps(), { filename: 'C:\\Windows\\evil.jpg' })).json();
    await ownerPost(alice, `/account/images/${png.id}/title`, { title: 'Ünïcödé / "quotes" <b>' }, { json: true });
    const album = await alice.client.post('/account/albums', { title: 'Trip' });
    const albumId = /\/account\/albums\/(\w+)$/.exec(String(album.headers.location))![1]!;
    await alice.client.post(`/account/albums/${albumId}/images`, [['image_id', jpg.id]], { csrfPage: `/account/albums/${albumId}` });
    const deleted = (await ownerUpload(alice, await fixtures.png())).json();
    await ownerPost(alice, `/account/images/${deleted.id}/delete`, {}, { json: true });

    const res = await alice.client.request('/account/export');
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/zip');
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.headers['content-disposition']).to.match(/^attachment; filename="pixbin-alice_export-\d{4}-\d{2}-\d{2}\.zip"$/);
    expect(res.headers['content-length'], 'streamed, not built first').to.equal(undefined);

    const entries = await unzip(res.body);
    expect([...entries.keys()].sort()).to.deep.equal(['account.json', `images/${jpg.id}.jpg`, `images/${png.id}.png`].sort());
    for (const name of entries.keys()) expect(name).to.match(/^(account\.json|images\/[0-9A-Za-z]{12}\.(png|jpg))$/);
    expect(entries.get(`images/${png.id}.png`)).to.deep.equal((await rawRequest(png.url)).body);
    expect(entries.get(`images/${jpg.id}.jpg`)).to.deep.equal((await rawRequest(jpg.url)).body);

    const account = JSON.parse(entries.get('account.json')!.toString('utf8'));
    expect(account.users).to.include({ id: alice.id, username: 'alice_export', email: 'alice.export@example.test' });
    expect(account.images.map((i: { id: string }) => i.id).sort()).to.deep.equal([png.id, jpg.id].sort());
    expect(account.images.find((i: { id: string }) => i.id === png.id).title).to.equal('Ünïcödé / "quotes" <b>');
    expect(account.albums.map((a: { title: string }) => a.title)).to.deep.equal(['Trip']);
    expect(account.album_images).to.deep.include({ album_id: albumId, image_id: jpg.id, added_at: account.album_images[0].added_at });
    expect(account.recovery_items.map((r: { image_id: string }) => r.image_id)).to.deep.equal([deleted.id]);
    expect(account.consent_log.map((c: { kind: string }) => c.kind)).to.include('terms');
    expect(account.sessions).to.have.length(1);
    expect(account.security_log.map((e: { event: string }) => e.event)).to.include('auth.signup').and.include('auth.login').and.include('image.upload');
    const text = entries.get('account.json')!.toString('utf8');
    for (const secret of ['password_hash', 'id_hash', 'token_hash', 'delete_key_hash', 'deleteKeyHash', '$2b$']) expect(text, secret).not.to.include(secret);
    // The export itself is recorded, with the requester's address, like other account events.
    expect(await app.db('security_log').where({ event: 'account.export', user_id: alice.id })).to.have.length(1);
  });

  it('covers every table that names a user (a new one must be added to the export)', async () => {
    const referencing = await tablesReferencingUsers(app);
    expect(referencing.length).to.be.greaterThan(5);
    const exported = new Set(Object.keys(EXPORTED_TABLES));
    expect(referencing.filter((t) => !exported.has(t)), 'tables naming a user that the export leaves out').to.deep.equal([]);
    const account = JSON.parse((await unzip((await alice.client.request('/account/export')).body)).get('account.json')!.toString('utf8'));
    for (const table of referencing) expect(account, table).to.have.property(table);
  });

  it('includes the account’s webhook endpoints (never a secret) and their delivery log; the purge erases them and leaves others’ alone', async () => {
    const repos = createRepos(app.db);
    const bob = await signedInUser(app);
    const at = new Date('2031-01-02T03:04:05Z');
    const secret = newWebhookSecret();
    const previous = newWebhookSecret();
    await repos.webhooks.insertEndpoint({ id: 'ep_alice', ownerId: alice.id, url: 'https://hooks.example.test/alice', description: 'My bot', events: ['image.uploaded', 'album.created'], secret, createdAt: at });
    await repos.webhooks.updateEndpoint('ep_alice', { secret, previousSecret: previous, previousSecretUntil: new Date(at.getTime() + 86_400_000), enabled: false, disabledReason: 'gone', disabledAt: at }, at);
    await repos.webhooks.insertEndpoint({ id: 'ep_bob', ownerId: bob.id, url: 'https://hooks.example.test/bob', description: null, events: ['image.deleted'], secret: newWebhookSecret(), createdAt: at });
    const body = webhookBody('image.uploaded', at, { id: 'AbCdEf123456' });
    await repos.webhooks.insertDeliveries([
      { id: 'msg_alice', endpointId: 'ep_alice', eventType: 'image.uploaded', payload: body, createdAt: at },
      { id: 'msg_bob', endpointId: 'ep_bob', eventType: 'image.deleted', payload: '{}', createdAt: at },
    ]);
    for (const [deliveryId, endpointId] of [['msg_alice', 'ep_alice'], ['msg_bob', 'ep_bob']] as const) {
      await repos.webhooks.recordAttempt(
        { deliveryId, endpointId, attemptedAt: at, outcome: 'gone', responseCode: 410, durationMs: 31, responseExcerpt: 'bye', error: null },
        { status: 'failed', attempts: 1, nextAttemptAt: null, finishedAt: at },
      );
    }

    const text = (await unzip((await alice.client.request('/account/export')).body)).get('account.json')!.toString('utf8');
    const account = JSON.parse(text);
    expect(account.webhook_endpoints).to.deep.equal([
      {
        id: 'ep_alice',
        url: 'https://hooks.example.test/alice',
        description: 'My bot',
        events: ['image.uploaded', 'album.created'],
        enabled: false,
        disabled_reason: 'gone',
        disabled_at: at.toISOString(),
        failing_since: null,
        created_at: at.toISOString(),
        updated_at: at.toISOString(),
      },
    ]);
    expect(account.webhook_deliveries).to.have.length(1);
    expect(account.webhook_deliveries[0]).to.deep.include({ id: 'msg_alice', endpoint_id: 'ep_alice', event_type: 'image.uploaded', status: 'failed', attempts: 1, last_response_code: 410, finished_at: at.toISOString() });
    expect(account.webhook_deliveries[0].payload).to.deep.equal(JSON.parse(body));
    expect(account.webhook_attempts).to.have.length(1);
    expect(account.webhook_attempts[0]).to.deep.include({ delivery_id: 'msg_alice', outcome: 'gone', response_code: 410, duration_ms: 31, response_excerpt: 'bye', attempted_at: at.toISOString() });
    for (const leaked of [secret, previous, secret.slice(6), previous.slice(6), 'whsec_', 'ep_bob', 'msg_bob']) expect(text, 'no secret, nothing of another account').not.to.include(leaked);

    // The purge erases the endpoints with the account (foreign keys cascade), their deliveries and attempts with them.
    const { deletion } = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
    expect(await purgeAccount(deletion, alice.id, new Date())).to.equal(true);
    expect(await app.db('webhook_endpoints').pluck('id')).to.deep.equal(['ep_bob']);
    expect(await app.db('webhook_deliveries').pluck('id')).to.deep.equal(['msg_bob']);
    expect(await app.db('webhook_attempts').pluck('delivery_id')).to.deep.equal(['msg_bob']);
  });

  it('needs the account’s own session: others and strangers get nothing of it', async () => {
    const png = (await ownerUpload(alice, await fixtures.png())).json();
    const stranger = await new WebClient(app.url).get('/account/export');
    expect(stranger.status).to.equal(303);
    expect(stranger.headers.location).to.equal('/login');
    expect((await rawRequest(`${app.url}/account/export`, { headers: { Accept: 'application/json' } })).status).to.equal(401);
    const bob = await signedInUser(app);
    const bobs = await unzip((await bob.client.request('/account/export')).body);
    expect([...bobs.keys()]).to.deep.equal(['account.json']);
    expect(bobs.get('account.json')!.toString()).not.to.include(png.id).and.not.include(alice.id);
  });

  it('stops cleanly when the client hangs up mid-download, and skips an original missing from storage', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await ownerUpload(alice, await fixtures.jpegWithGps())).json().id);
    await app.storage.delete(`images/${ids[0]!.slice(0, 2)}/${ids[0]}.jpg`);
    // Hang up after the first bytes.
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${app.url}/account/export`, { headers: { Cookie: alice.client.cookieHeader() } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    });
    const deadline = Date.now() + 5000;
    while (!app.logs.some((l) => l.msg === 'export cancelled by the client') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(app.logs.some((l) => l.msg === 'export cancelled by the client'), 'the export noticed the hang-up').to.equal(true);
    expect(app.logs.some((l) => l.msg === 'export failed part-way')).to.equal(false);

    const entries = await unzip((await alice.client.request('/account/export')).body);
    expect([...entries.keys()].filter((n) => n.startsWith('images/'))).to.have.length(3);
    expect(JSON.parse(entries.get('missing.json')!.toString()).imageIds).to.deep.equal([ids[0]]);
  });
});
