import { expect } from 'chai';
import type { Role } from '../../db/users.repo.js';
import { signedInUser, type TestUser } from './accounts.js';
import type { TestApp } from './test-app.js';

let counter = 0;

/** A signed-in account given a staff role. */
export async function staffUser(app: TestApp, role: Exclude<Role, 'user'>, overrides: Parameters<typeof signedInUser>[1] = {}): Promise<TestUser> {
  const user = await signedInUser(app, { username: `${role.slice(0, 3)}${(counter += 1)}_${Date.now() % 100000}`, ...overrides });
  await app.db('users').where({ id: user.id }).update({ role });
  return user;
}

/** Types the staff member's password again, as destructive actions need. */
export async function reauth(staff: TestUser): Promise<void> {
  const res = await staff.client.post('/admin/reauth', { password: staff.password, next: '/admin' }, { csrfPage: '/admin/reauth' });
  expect(res.status, res.body.toString().slice(0, 300)).to.equal(303);
}
