import { expect } from 'chai';
import { API_SCOPES, type ApiScope } from '../../../services/caller.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { until } from '../../helpers/assertions.js';
import { expectProblem } from './api-helpers.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

/** Every endpoint, with the scope it needs and a request that would otherwise be valid. */
const ENDPOINTS: Array<{ method: string; path: string; scope: ApiScope; json?: unknown }> = [
  { method: 'GET', path: '/api/v1/me', scope: 'account:read' },
  { method: 'POST', path: '/api/v1/images', scope: 'images:write' },
  { method: 'GET', path: '/api/v1/images', scope: 'images:read' },
  { method: 'GET', path: '/api/v1/images/AAAAAAAAAAAA', scope: 'images:read' },
  { method: 'PATCH', path: '/api/v1/images/AAAAAAAAAAAA', scope: 'images:write', json: { title: 'x' } },
  { method: 'DELETE', path: '/api/v1/images/AAAAAAAAAAAA', scope: 'images:delete' },
  { method: 'GET', path: '/api/v1/albums', scope: 'albums:read' },
  { method: 'POST', path: '/api/v1/albums', scope: 'albums:write', json: { title: 'x' } },
  { method: 'GET', path: '/api/v1/albums/AAAAAAAAAAAAAAAA', scope: 'albums:read' },
  { method: 'PATCH', path: '/api/v1/albums/AAAAAAAAAAAAAAAA', scope: 'albums:write', json: { title: 'x' } },
  { method: 'DELETE', path: '/api/v1/albums/AAAAAAAAAAAAAAAA', scope: 'albums:write' },
  { method: 'PUT', path: '/api/v1/albums/AAAAAAAAAAAAAAAA/images/AAAAAAAAAAAA', scope: 'albums:write' },
  { method: 'DELETE', path: '/api/v1/albums/AAAAAAAAAAAAAAAA/images/AAAAAAAAAAAA', scope: 'albums:write' },
];

describe('API v1: authentication, scopes and rate-limit headers', () => {
  let app: TestApp;
  let user: TestUser;
  afterEach(async () => app?.close());

  describe('with the default limits', () => {
    beforeEach(async () => {
      app = await startTestApp();
      user = await signedInUser(app);
    });

    it('accepts a key as Authorization: Bearer and as X-API-Key, and answers /me without the role', async () => {
      const { key, keyId } = await apiKeyFor(app, user, ['account:read'], 'never', 'laptop');
      const bearer = await api(app, 'GET', '/api/v1/me', { key });
      expect(bearer.status).to.equal(200);
      expect(bearer.json).to.deep.include({ id: user.id, username: user.username, email: user.email });
      expect(bearer.json.quota).to.deep.equal({ used_bytes: 0, limit_bytes: app.config.defaultQuotaBytes });
      expect(bearer.json.key).to.deep.equal({ id: keyId, name: 'laptop', scopes: ['account:read'] });
      expect(bearer.json.created_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(bearer.json).not.to.have.property('role');
      expect(bearer.headers.get('cache-control')).to.equal('no-store');
      const header = await api(app, 'GET', '/api/v1/me', { headers: { 'X-API-Key': key } });
      expect(header.status).to.equal(200);
      expect(header.json.id).to.equal(user.id);
    });

    it('answers 401 with WWW-Authenticate for every kind of bad key, and no key at all', async () => {
      const { key, keyId } = await apiKeyFor(app, user, ['account:read']);
      const secret = key.split('_')[2]!;
      const wrongSecret = `pxb_${keyId}_${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
      const unknownId = `pxb_${'Z'.repeat(16)}_${secret}`;
      const cases: Array<[string, Record<string, string>, string, boolean]> = [
        ['no key', {}, 'api_key_required', false],
        ['malformed', { Authorization: 'Bearer hello' }, 'invalid_api_key', true],
        ['not Bearer', { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'invalid_api_key', true],
        ['wrong length', { Authorization: `Bearer ${key}x` }, 'invalid_api_key', true],
        ['short', { Authorization: `Bearer ${key.slice(0, -1)}` }, 'invalid_api_key', true],
        ['valid id, wrong secret', { Authorization: `Bearer ${wrongSecret}` }, 'invalid_api_key', true],
        ['unknown id', { Authorization: `Bearer ${unknownId}` }, 'invalid_api_key', true],
        ['empty X-API-Key', { 'X-API-Key': '' }, 'invalid_api_key', true],
      ];
      let failures = 0;
      for (const [what, headers, code, presented] of cases) {
        const res = await api(app, 'GET', '/api/v1/me', { headers });
        const body = expectProblem(res, 401, code, app);
        expect(res.headers.get('www-authenticate'), what).to.equal(presented ? 'Bearer realm="pixbin", error="invalid_token"' : 'Bearer realm="pixbin"');
        // The answer says what is left of the address's allowance for failures; sending no key spends none of it.
        if (presented) failures += 1;
        expect(res.headers.get('ratelimit-limit'), what).to.equal('30');
        expect(res.headers.get('ratelimit-policy'), what).to.equal('30;w=900');
        expect(res.headers.get('ratelimit-remaining'), what).to.equal(String(30 - failures));
        expect(Number(res.headers.get('ratelimit-reset')), what).to.be.within(presented ? 1 : 0, 900);
        expect(body.detail, what).not.to.include(secret);
      }
      // An unknown id and a wrong secret are told apart by nothing (the same code path, the same answer).
      const a = (await api(app, 'GET', '/api/v1/me', { headers: { Authorization: `Bearer ${wrongSecret}` } })).json;
      const b = (await api(app, 'GET', '/api/v1/me', { headers: { Authorization: `Bearer ${unknownId}` } })).json;
      expect({ ...a, request_id: null }).to.deep.equal({ ...b, request_id: null });
    });

    it('answers 401 for a revoked key, an expired key, a suspended account and one pending deletion', async () => {
      const revoked = await apiKeyFor(app, user, ['account:read']);
      await app.db('api_keys').where({ id: revoked.keyId }).update({ revoked_at: new Date() });
      expectProblem(await api(app, 'GET', '/api/v1/me', { key: revoked.key }), 401, 'api_key_revoked', app);
      const expired = await apiKeyFor(app, user, ['account:read'], '7d');
      await app.db('api_keys').where({ id: expired.keyId }).update({ expires_at: new Date(Date.now() - 1000) });
      expectProblem(await api(app, 'GET', '/api/v1/me', { key: expired.key }), 401, 'api_key_expired', app);

      const { key } = await apiKeyFor(app, user, ['account:read']);
      await app.db('users').where({ id: user.id }).update({ suspended_at: new Date() });
      expectProblem(await api(app, 'GET', '/api/v1/me', { key }), 401, 'account_suspended', app);
      await app.db('users').where({ id: user.id }).update({ suspended_at: null, deletion_requested_at: new Date() });
      expectProblem(await api(app, 'GET', '/api/v1/me', { key }), 401, 'account_pending_deletion', app);
      await app.db('users').where({ id: user.id }).update({ deletion_requested_at: null });
      expect((await api(app, 'GET', '/api/v1/me', { key })).status).to.equal(200);
    });

    it('shows the owner attempts with a refused key in the request log; wrong secrets and unknown ids stay anonymous', async () => {
      const revoked = await apiKeyFor(app, user, ['account:read']);
      await app.db('api_keys').where({ id: revoked.keyId }).update({ revoked_at: new Date() });
      const barred = await apiKeyFor(app, user, ['account:read']);
      await app.db('users').where({ id: user.id }).update({ suspended_at: new Date() });
      const secret = revoked.key.split('_')[2]!;
      const wrongSecret = `pxb_${revoked.keyId}_${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
      expectProblem(await api(app, 'GET', '/api/v1/me', { key: revoked.key }), 401, 'api_key_revoked', app);
      expectProblem(await api(app, 'GET', '/api/v1/images', { key: barred.key }), 401, 'account_suspended', app);
      expectProblem(await api(app, 'GET', '/api/v1/me', { key: wrongSecret }), 401, 'invalid_api_key', app);
      expectProblem(await api(app, 'GET', '/api/v1/me', { key: `pxb_${'Z'.repeat(16)}_${secret}` }), 401, 'invalid_api_key', app);
      await until(async () => (await app.db('api_requests')).length === 4, 'four log rows');
      const rows = await app.db('api_requests');
      expect(rows.map((r) => [r.route, Number(r.status), r.key_id, r.user_id])).to.have.deep.members([
        ['/api/v1/me', 401, revoked.keyId, user.id],
        ['/api/v1/images', 401, barred.keyId, user.id],
        ['/api/v1/me', 401, null, null],
        ['/api/v1/me', 401, null, null],
      ]);
    });

    it('never accepts a browser session: cookies alone get 401', async () => {
      expect((await user.client.get('/account/images')).status).to.equal(200); // the session works on pages
      const res = await user.client.request('/api/v1/me', { headers: { Accept: 'application/json' } });
      expect(res.status).to.equal(401);
      expect(res.json().code).to.equal('api_key_required');
      const post = await user.client.request('/api/v1/albums', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"title":"x"}') });
      expect(post.status).to.equal(401);
      expect(await app.db('albums').count({ n: '*' }).first()).to.satisfy((r: { n: number | string }) => Number(r.n) === 0);
    });

    it('refuses a key in the query string, saying why, with or without a header key', async () => {
      const { key } = await apiKeyFor(app, user);
      for (const path of [`/api/v1/me?key=${key}`, `/api/v1/images?api_key=${encodeURIComponent(key)}`, `/api/v1/nowhere?x=${key.slice(0, 21)}`]) {
        const res = await api(app, 'GET', path, { key });
        const body = expectProblem(res, 400, 'api_key_in_query', app);
        expect(body.detail).to.match(/Authorization header/).and.match(/logs/).and.match(/revoke/i);
        expect(body.field).to.be.oneOf(['key', 'api_key', 'x']);
      }
      expectProblem(await api(app, 'GET', `/api/v1/me?access_token=${key}`), 400, 'api_key_in_query', app);
    });

    it('a key without the scope gets 403 naming it, on every endpoint', async () => {
      for (const endpoint of ENDPOINTS) {
        const others = API_SCOPES.filter((s) => s !== endpoint.scope);
        const { key } = await apiKeyFor(app, user, others);
        const res = await api(app, endpoint.method, endpoint.path, { key, json: endpoint.json });
        const body = expectProblem(res, 403, 'insufficient_scope', app);
        expect(body.field, endpoint.path).to.equal(endpoint.scope);
        expect(body.required_scope).to.equal(endpoint.scope);
        expect(body.detail).to.include(endpoint.scope);
        expect(res.headers.get('www-authenticate')).to.equal(`Bearer error="insufficient_scope", scope="${endpoint.scope}"`);
        expect(res.headers.get('ratelimit-limit'), 'rate-limit headers on errors after auth').to.match(/^\d+$/);
      }
      expect(await app.db('albums').count({ n: '*' }).first()).to.satisfy((r: { n: number | string }) => Number(r.n) === 0);
    });

    it('a key with the scope passes the scope check on every endpoint (then 404s for ids that do not exist)', async () => {
      const { key } = await apiKeyFor(app, user);
      for (const endpoint of ENDPOINTS.filter((e) => /AAAA/.test(e.path))) {
        expectProblem(await api(app, endpoint.method, endpoint.path, { key, json: endpoint.json }), 404, 'not_found', app);
      }
    });

    it('says what is left of the tighter limit on every answer, counting down', async () => {
      const { key } = await apiKeyFor(app, user, ['account:read']);
      const first = await api(app, 'GET', '/api/v1/me', { key });
      const second = await api(app, 'GET', '/api/v1/nowhere', { key });
      expect(second.status).to.equal(404);
      expect(first.headers.get('ratelimit-limit')).to.equal('120');
      expect(first.headers.get('ratelimit-policy')).to.equal('120;w=60');
      expect(Number(first.headers.get('ratelimit-remaining'))).to.equal(119);
      expect(Number(second.headers.get('ratelimit-remaining'))).to.equal(118);
      expect(Number(first.headers.get('ratelimit-reset'))).to.be.within(1, 60);
    });

    it('answers unknown paths and methods under /api/v1 with a problem 404, after authentication', async () => {
      const { key } = await apiKeyFor(app, user);
      expectProblem(await api(app, 'GET', '/api/v1/nothing/here', { key }), 404, 'not_found', app);
      expectProblem(await api(app, 'PUT', '/api/v1/images', { key }), 404, 'not_found', app);
      expectProblem(await api(app, 'GET', '/api/v1/nothing'), 401, 'api_key_required', app);
    });
  });
});
