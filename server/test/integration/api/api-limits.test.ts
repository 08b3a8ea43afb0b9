import { expect } from 'chai';
import { createRateLimits } from '../../../services/rate-limits.service.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { api, apiKeyFor, type ApiAnswer } from '../../helpers/api.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { expectProblem } from './api-helpers.js';

const BAD_KEY = { Authorization: 'Bearer pxb_nope' };

/** A 429 that says when to come back and that nothing is left of the limit. */
function expectLimited(res: ApiAnswer, app: TestApp, limit: number, window: number): void {
  expectProblem(res, 429, 'rate_limited', app);
  expect(Number(res.headers.get('retry-after'))).to.be.within(1, window);
  expect(res.headers.get('ratelimit-limit')).to.equal(String(limit));
  expect(res.headers.get('ratelimit-remaining')).to.equal('0');
  expect(Number(res.headers.get('ratelimit-reset'))).to.be.within(1, window);
  expect(res.headers.get('ratelimit-policy')).to.equal(`${limit};w=${window}`);
}

describe('API v1: rate limits', () => {
  let app: TestApp;
  let user: TestUser;
  afterEach(async () => app?.close());

  describe('failed authentication, per address', () => {
    beforeEach(async () => {
      app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { apiAuthFailPerIp: { points: 3 } }) });
      user = await signedInUser(app);
    });

    it('answers 429 with Retry-After and RateLimit-* once spent, even for a good key then', async () => {
      const { key } = await apiKeyFor(app, user, ['account:read']);
      for (let i = 0; i < 3; i += 1) {
        const res = await api(app, 'GET', '/api/v1/me', { headers: BAD_KEY });
        expectProblem(res, 401, 'invalid_api_key', app);
        expect(res.headers.get('ratelimit-remaining')).to.equal(String(2 - i));
      }
      expectLimited(await api(app, 'GET', '/api/v1/me', { key }), app, 3, 900);
    });

    it('sending no key spends nothing, but an address that is blocked gets 429 with or without a key', async () => {
      const { key } = await apiKeyFor(app, user, ['account:read']);
      for (let i = 0; i < 5; i += 1) {
        const res = await api(app, 'GET', '/api/v1/me');
        expectProblem(res, 401, 'api_key_required', app);
        expect(res.headers.get('ratelimit-remaining')).to.equal('3');
      }
      expect((await api(app, 'GET', '/api/v1/me', { key })).status).to.equal(200);
      for (let i = 0; i < 3; i += 1) expectProblem(await api(app, 'GET', '/api/v1/me', { headers: BAD_KEY }), 401, 'invalid_api_key', app);
      expectLimited(await api(app, 'GET', '/api/v1/me'), app, 3, 900);
    });

    it('a good key gives back the point it spent, so valid calls never use up the allowance', async () => {
      const { key } = await apiKeyFor(app, user, ['account:read']);
      expectProblem(await api(app, 'GET', '/api/v1/me', { headers: BAD_KEY }), 401, 'invalid_api_key', app);
      for (let i = 0; i < 5; i += 1) expect((await api(app, 'GET', '/api/v1/me', { key })).status).to.equal(200);
      const after = await api(app, 'GET', '/api/v1/me', { headers: BAD_KEY });
      expectProblem(after, 401, 'invalid_api_key', app);
      expect(after.headers.get('ratelimit-remaining')).to.equal('1');
    });
  });

  it('a parallel burst of wrong keys gets exactly the allowance, no more', async () => {
    app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { apiAuthFailPerIp: { points: 5 } }) });
    user = await signedInUser(app);
    const { keyId } = await apiKeyFor(app, user, ['account:read']);
    const wrong = `pxb_${keyId}_${'A'.repeat(43)}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => api(app, 'GET', '/api/v1/me', { key: wrong })));
    expect(answers.filter((a) => a.status === 401)).to.have.length(5);
    expect(answers.filter((a) => a.status === 429)).to.have.length(15);
    for (const res of answers.filter((a) => a.status === 429)) expectLimited(res, app, 5, 900);
    expect(answers.filter((a) => a.status === 401).map((a) => a.headers.get('ratelimit-remaining'))).to.have.members(['4', '3', '2', '1', '0']);
  });

  it('limits calls per key: 429 with Retry-After and RateLimit-Remaining 0; another key has its own allowance', async () => {
    app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { apiPerKey: { points: 2 } }) });
    user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['account:read']);
    expect((await api(app, 'GET', '/api/v1/me', { key })).headers.get('ratelimit-remaining')).to.equal('1');
    expect((await api(app, 'GET', '/api/v1/me', { key })).headers.get('ratelimit-remaining')).to.equal('0');
    expectLimited(await api(app, 'GET', '/api/v1/me', { key }), app, 2, 60);
    const other = await apiKeyFor(app, user, ['account:read']);
    expect((await api(app, 'GET', '/api/v1/me', { key: other.key })).status).to.equal(200);
  });

  it('limits calls per account: the keys of one account share it, another account has its own', async () => {
    app = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { apiPerAccount: { points: 3 } }) });
    user = await signedInUser(app);
    const first = await apiKeyFor(app, user, ['account:read']);
    const second = await apiKeyFor(app, user, ['account:read']);
    const remaining: Array<string | null> = [];
    for (const key of [first.key, second.key, first.key]) {
      const res = await api(app, 'GET', '/api/v1/me', { key });
      expect(res.status).to.equal(200);
      expect(res.headers.get('ratelimit-policy')).to.equal('3;w=60');
      remaining.push(res.headers.get('ratelimit-remaining'));
    }
    expect(remaining).to.deep.equal(['2', '1', '0']);
    expectLimited(await api(app, 'GET', '/api/v1/me', { key: second.key }), app, 3, 60);
    const stranger = await signedInUser(app);
    expect((await api(app, 'GET', '/api/v1/me', { key: (await apiKeyFor(app, stranger, ['account:read'])).key })).status).to.equal(200);
  });
});
