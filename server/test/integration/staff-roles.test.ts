import { expect } from 'chai';
import { createUsersRepo } from '../../db/users.repo.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { expectJsonError } from '../helpers/assertions.js';
import { spawnTs } from '../helpers/child-process.js';
import { reauth, staffUser } from '../helpers/staff.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { testDatabase } from '../helpers/test-db.js';

describe('roles: admins make moderators and admins, audited; the CLI can too', function () {
  this.timeout(90_000);
  let app: TestApp;
  let admin: TestUser;
  let target: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    admin = await staffUser(app, 'admin');
    target = await signedInUser(app);
    await reauth(admin);
  });
  afterEach(() => app.close());

  const json = { Accept: 'application/json' };
  const setRole = (actor: TestUser, id: string, role: string) => actor.client.post(`/admin/users/${id}/role`, { role }, { csrfPage: '/admin', json: true });
  const roleOf = async (id: string) => (await app.db('users').where({ id }).first()).role as string;
  const roleAudit = () => app.db('audit_log').where({ action: 'user.role', actor_id: admin.id }).orderBy('created_at').select('actor_id', 'target_id', 'detail');

  it('making someone staff needs the password typed again, like every other powerful action', async () => {
    const fresh = await staffUser(app, 'admin');
    expectJsonError(await setRole(fresh, target.id, 'admin'), 403, 'reauth_required');
    expect(await roleOf(target.id)).to.equal('user');
  });

  it('an admin makes a user a moderator (who then reaches the queue), and back; each change is audited with from and to', async () => {
    expect((await target.client.get('/admin/reports')).status).to.equal(404);
    const page = (await admin.client.get(`/admin/users/${target.id}`)).body.toString();
    expect(page).to.include(`action="/admin/users/${target.id}/role"`).and.include('<option value="user" selected>');

    const form = await admin.client.post(`/admin/users/${target.id}/role`, { role: 'moderator' }, { csrfPage: `/admin/users/${target.id}` });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.equal(`/admin/users/${target.id}`);
    expect(await roleOf(target.id)).to.equal('moderator');
    expect((await target.client.get('/admin/reports')).status, 'the new moderator reaches the queue').to.equal(200);
    expect((await target.client.get('/admin/users')).status, 'but not the users pages').to.equal(404);

    expect((await setRole(admin, target.id, 'user')).json()).to.deep.equal({ role: 'user' });
    expect((await target.client.get('/admin/reports')).status).to.equal(404);
    const entries = await roleAudit();
    expect(entries.map((e) => ({ ...e, detail: JSON.parse(e.detail) }))).to.deep.equal([
      { actor_id: admin.id, target_id: target.id, detail: { from: 'user', to: 'moderator' } },
      { actor_id: admin.id, target_id: target.id, detail: { from: 'moderator', to: 'user' } },
    ]);
    // Setting the role it already has changes nothing and records nothing.
    expect((await setRole(admin, target.id, 'user')).status).to.equal(200);
    expect(await roleAudit()).to.have.length(2);
  });

  it('refuses: a bad role, an admin changing their own role, moderators and users changing roles, and no CSRF token', async () => {
    expectJsonError(await setRole(admin, target.id, 'owner'), 400, 'bad_role');
    expectJsonError(await setRole(admin, admin.id, 'user'), 400, 'cannot_target_self');
    expect(await roleOf(admin.id)).to.equal('admin');
    expect((await admin.client.get(`/admin/users/${admin.id}`)).body.toString()).to.include('id="role-self"').and.not.include('id="role-form"');
    const moderator = await staffUser(app, 'moderator');
    expect((await moderator.client.post(`/admin/users/${target.id}/role`, { role: 'admin' }, { csrfPage: '/admin' })).status).to.equal(404);
    expect((await moderator.client.post(`/admin/users/${moderator.id}/role`, { role: 'admin' }, { csrfPage: '/admin' })).status).to.equal(404);
    expect((await target.client.post(`/admin/users/${target.id}/role`, { role: 'admin' }, { csrfPage: '/account/settings' })).status).to.equal(404);
    expect((await admin.client.post(`/admin/users/${target.id}/role`, { role: 'admin' }, { csrf: false })).status).to.equal(403);
    expectJsonError(await admin.client.get('/admin/users/0000000000000000', json), 404, 'not_found');
    expect(await roleOf(target.id)).to.equal('user');
    expect(await roleOf(moderator.id)).to.equal('moderator');
    expect(await roleAudit()).to.deep.equal([]);
  });

  it('an admin can demote another admin, but the last admin is never demoted', async () => {
    const other = await staffUser(app, 'admin');
    expect((await setRole(admin, other.id, 'moderator')).status).to.equal(200);
    expect(await roleOf(other.id)).to.equal('moderator');
    // The one statement that changes a role refuses to leave no admin (two admins demoting each other at once).
    const users = createUsersRepo(app.db);
    expect(await users.changeRole(admin.id, 'admin', 'user')).to.equal(false);
    expect(await roleOf(admin.id)).to.equal('admin');
    expect(await users.changeRole(other.id, 'moderator', 'admin')).to.equal(true);
    const [first, second] = await Promise.all([users.changeRole(admin.id, 'admin', 'user'), users.changeRole(other.id, 'admin', 'user')]);
    expect([first, second].filter(Boolean)).to.have.length(1);
    expect(await app.db('users').where({ role: 'admin' })).to.have.length(1);
  });

  it('npm run admin:create -- --role moderator creates or promotes a moderator; it never demotes the last admin', async () => {
    const { databaseUrl, dataDir } = testDatabase();
    const env = { DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    const create = spawnTs('server/cli/admin-create.ts', env, ['--email', 'mod@example.test', '--username', 'newmod', '--role', 'moderator', '--password-stdin'], 'a long moderator passphrase\n');
    expect((await create.waitForExit(60_000)).code, create.stderr()).to.equal(0);
    expect(create.stdout()).to.include('created moderator newmod');
    expect(await app.db('users').where({ username_key: 'newmod' }).first()).to.include({ role: 'moderator' });

    const promote = spawnTs('server/cli/admin-create.ts', env, ['--email', target.email, '--role', 'moderator']);
    expect((await promote.waitForExit(60_000)).code, promote.stderr()).to.equal(0);
    expect(await roleOf(target.id)).to.equal('moderator');
    const byDefault = spawnTs('server/cli/admin-create.ts', env, ['--email', target.email]);
    expect((await byDefault.waitForExit(60_000)).code, byDefault.stderr()).to.equal(0);
    expect(await roleOf(target.id), 'admin by default').to.equal('admin');

    const bad = spawnTs('server/cli/admin-create.ts', env, ['--email', target.email, '--role', 'user']);
    expect((await bad.waitForExit(60_000)).code).to.equal(1);
    expect(bad.stderr()).to.include('--role must be admin or moderator');

    await app.db('users').where({ id: target.id }).update({ role: 'user' });
    const demoteLast = spawnTs('server/cli/admin-create.ts', env, ['--email', admin.email, '--role', 'moderator']);
    expect((await demoteLast.waitForExit(60_000)).code).to.equal(1);
    expect(demoteLast.stderr()).to.include('last admin');
    expect(await roleOf(admin.id)).to.equal('admin');
  });
});
