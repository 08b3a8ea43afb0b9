import { expect } from 'chai';
import { createRepos } from '../../../db/repos.js';
import { issueSetupToken } from '../../../services/admin-setup.service.js';
import { signedInUser } from '../../helpers/accounts.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';
import { spawnTs } from '../../helpers/child-process.js';
import { testDatabase } from '../../helpers/test-db.js';

describe('first-run admin setup', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(() => app.close());

  const issue = () => issueSetupToken(createRepos(app.db), new Date());
  const admin = { username: 'operator', email: 'ops@example.test', password: 'a long operator passphrase' };

  it('creates the first admin only through the one-time URL, logs them in, then answers 404 for good', async () => {
    const token = (await issue())!;
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(await app.db('app_secrets'))).not.to.include(token);
    const browser = new WebClient(app.url);
    expect((await browser.get(`/setup/${'A'.repeat(43)}`)).status).to.equal(404);
    const page = await browser.get(`/setup/${token}`);
    expect(page.status).to.equal(200);
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    expect((await browser.post(`/setup/${token}`, admin, { csrf: false, json: true })).status).to.equal(403);
    expect((await browser.post(`/setup/${token}`, { ...admin, password: 'password' })).status).to.equal(400);

    const created = await browser.post(`/setup/${token}`, admin);
    expect(created.status).to.equal(303);
    const row = await app.db('users').where({ username_key: 'operator' }).first();
    expect(row.role).to.equal('admin');
    expect(row.email_verified_at).not.to.equal(null);
    expect((await browser.get('/')).body.toString()).to.include('Log out operator');

    expect((await new WebClient(app.url).get(`/setup/${token}`)).status).to.equal(404);
    expect(await issue(), 'no new link once an admin exists').to.equal(null);
  });

  it('a restart issues a new link and the old one stops working', async () => {
    const first = (await issue())!;
    const second = (await issue())!;
    expect(second).not.to.equal(first);
    const client = new WebClient(app.url);
    expect((await client.get(`/setup/${first}`)).status).to.equal(404);
    expect((await client.get(`/setup/${second}`)).status).to.equal(200);
  });

  it('ordinary sign-ups are users, never admins', async () => {
    const user = await signedInUser(app);
    expect((await app.db('users').where({ id: user.id }).first()).role).to.equal('user');
  });

  it('npm run admin:create creates an admin from a password on stdin, or promotes an existing account', async () => {
    const { databaseUrl, dataDir } = testDatabase();
    const env = { DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    const create = spawnTs('server/cli/admin-create.ts', env, ['--email', 'root@example.test', '--username', 'rootops', '--password-stdin'], 'a long operator passphrase\n');
    expect((await create.waitForExit(60_000)).code, create.stderr()).to.equal(0);
    const created = await app.db('users').where({ username_key: 'rootops' }).first();
    expect(created.role).to.equal('admin');
    expect((await new WebClient(app.url).post('/login', { login: 'rootops', password: 'a long operator passphrase' })).status).to.equal(303);

    const user = await signedInUser(app, { username: 'promoteme', email: 'promote@example.test' });
    const promote = spawnTs('server/cli/admin-create.ts', env, ['--email', 'PROMOTE@example.test']);
    expect((await promote.waitForExit(60_000)).code, promote.stderr()).to.equal(0);
    expect((await app.db('users').where({ id: user.id }).first()).role).to.equal('admin');

    const weak = spawnTs('server/cli/admin-create.ts', env, ['--email', 'weak@example.test', '--username', 'weakops', '--password-stdin'], 'password\n');
    expect((await weak.waitForExit(60_000)).code).to.equal(1);
    expect(weak.stderr()).to.include('too common');
  });
});
