import { expect } from 'chai';
import { createRateLimits, LIMITS } from '../../../services/rate-limits.service.js';
import { fixtures } from '../../fixtures/images.js';
import { rawRequest, upload } from '../../helpers/http.js';
import { signedInUser } from '../../helpers/accounts.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

describe('rate limits (counters in the database)', function () {
  this.timeout(60_000);
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(() => app.close());

  const attempt = (client: WebClient, login: string, password: string) => client.post('/login', { login, password }, { json: true, csrfPage: '/login' });

  it('locks an account after repeated wrong passwords, even while X-Forwarded-For rotates, and says when to retry', async () => {
    const user = await signedInUser(app, { username: 'victim' });
    const client = new WebClient(app.url);
    const token = await client.csrfFrom('/login');
    const post = (password: string, ip: string) => {
      const body = Buffer.from(new URLSearchParams({ login: 'victim', password, _csrf: token }).toString());
      return client.request('/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length), Accept: 'application/json', 'X-Forwarded-For': ip },
        body,
      });
    };
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      expect((await post(`wrong guess ${i}`, `198.51.100.${i}`)).status, `attempt ${i + 1}`).to.equal(403);
    }
    const locked = await post(user.password, '203.0.113.250');
    expect(locked.status, 'even the right password waits out the lock').to.equal(429);
    expect(locked.json().error.code).to.equal('rate_limited');
    expect(locked.json().error.message).to.match(/wait \d+ minutes/);
    expect(Number(locked.headers['retry-after'])).to.be.within(60, 15 * 60);
    expect(await app.db('sessions').where({ user_id: user.id })).to.have.length(1); // only signedInUser's own login
    // The counters are rows in the database, keyed by account and by IP.
    const keys = (await app.db('rate_limits').select('key')).map((r: { key: string }) => r.key);
    expect(keys).to.include(`loginPerAccount:user:${user.id}`);
  });

  it('limits one IP that tries many accounts; X-Forwarded-For does not move it when TRUST_PROXY is off', async () => {
    const client = new WebClient(app.url);
    const token = await client.csrfFrom('/login');
    let status = 0;
    let tries = 0;
    while (tries < LIMITS.loginPerIp.points + 1) {
      const body = Buffer.from(new URLSearchParams({ login: `someone${tries}`, password: 'guess guess', _csrf: token }).toString());
      const res = await client.request('/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length), Accept: 'application/json', 'X-Forwarded-For': `192.0.2.${tries}` },
        body,
      });
      status = res.status;
      tries += 1;
      if (status === 429) break;
    }
    expect(status).to.equal(429);
    expect(tries).to.equal(LIMITS.loginPerIp.points + 1);
    const keys = (await app.db('rate_limits').select('key')).map((r: { key: string }) => r.key);
    expect(keys.filter((k: string) => k.startsWith('loginPerIp:'))).to.deep.equal(['loginPerIp:127.0.0.1']);
  });

  it('shares counters between replicas on one database', async () => {
    const replica = await startTestApp();
    try {
      await signedInUser(app, { username: 'shared' });
      const clients = [new WebClient(app.url), new WebClient(replica.url)];
      for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
        const res = await attempt(clients[i % 2]!, 'shared', `nope nope ${i}`);
        expect(res.status).to.equal(403);
      }
      expect((await attempt(clients[0]!, 'shared', 'nope again')).status).to.equal(429);
      expect((await attempt(clients[1]!, 'shared', 'nope again')).status).to.equal(429);
    } finally {
      await replica.close();
    }
  });

  it('a successful login clears the account counter', async () => {
    const user = await signedInUser(app, { username: 'forgetful' });
    const client = new WebClient(app.url);
    for (let i = 0; i < LIMITS.loginPerAccount.points - 1; i += 1) await attempt(client, 'forgetful', `wrong ${i}`);
    expect((await attempt(client, 'forgetful', user.password)).status).to.equal(200);
    expect((await attempt(client, 'forgetful', 'wrong again')).status).to.equal(403);
  });

  it('limits password-reset requests per address', async () => {
    await signedInUser(app, { username: 'resetme', email: 'resetme@example.test' });
    const client = new WebClient(app.url);
    for (let i = 0; i < LIMITS.resetPerAccount.points; i += 1) {
      expect((await client.post('/forgot-password', { email: 'resetme@example.test' }, { json: true, csrfPage: '/forgot-password' })).status).to.equal(202);
    }
    expect((await client.post('/forgot-password', { email: 'RESETME@example.test' }, { json: true, csrfPage: '/forgot-password' })).status).to.equal(429);
  });

  it('limits sign-ups per IP', async () => {
    const client = new WebClient(app.url);
    let last = 0;
    for (let i = 0; i <= LIMITS.signupPerIp.points; i += 1) {
      last = (await client.post('/signup', { username: `spam${i}`, email: `spam${i}@example.test`, password: 'correct horse battery', age: 'yes', terms: 'yes' }, { json: true, csrfPage: '/signup' })).status;
    }
    expect(last).to.equal(429);
    expect(await app.db('users')).to.have.length(LIMITS.signupPerIp.points);
  });

  it('limits delete-key attempts per IP, on the confirm page and the delete alike', async () => {
    const limited = await startTestApp({}, { rateLimits: (repos) => createRateLimits(repos, { deletePerIp: { points: 5 } }) });
    try {
      const { id } = (await upload(limited.url, { bytes: await fixtures.png() })).json();
      const statuses: number[] = [];
      for (let i = 0; i < 6; i += 1) {
        const path = `/delete/${id}/${'A'.repeat(23)}${i}`;
        const res = i % 2 ? await rawRequest(`${limited.url}${path}`, { method: 'POST', headers: { Accept: 'application/json', 'X-Forwarded-For': `198.51.100.${i}` } }) : await rawRequest(`${limited.url}${path}`, { headers: { Accept: 'application/json' } });
        statuses.push(res.status);
      }
      expect(statuses).to.deep.equal([404, 404, 404, 404, 404, 429]);
    } finally {
      await limited.close();
    }
  });

  it('gives an account one login budget whether it is named by username or by email', async () => {
    const user = await signedInUser(app, { username: 'twonames', email: 'twonames@example.test' });
    const client = new WebClient(app.url);
    for (let i = 0; i < LIMITS.loginPerAccount.points; i += 1) {
      expect((await attempt(client, i % 2 ? 'twonames' : 'TwoNames@example.test', `wrong ${i}`)).status).to.equal(403);
    }
    expect((await attempt(client, 'twonames@example.test', user.password)).status).to.equal(429);
  });

  it('limits sign-ups per address, so nobody can flood the owner of an address with mail', async () => {
    const addresses = Array.from({ length: LIMITS.signupPerAddress.points + 1 }, (_, i) => ({ username: `flood${i}`, email: 'target@example.test' }));
    const statuses: number[] = [];
    for (const [i, a] of addresses.entries()) {
      const client = new WebClient(app.url);
      const body = { ...a, password: 'correct horse battery', age: 'yes', terms: 'yes' };
      statuses.push((await client.post('/signup', body, { json: true, csrfPage: '/signup' })).status);
      expect(i).to.be.below(10);
    }
    expect(statuses).to.deep.equal([...Array(LIMITS.signupPerAddress.points).fill(202), 429]);
  });
});
