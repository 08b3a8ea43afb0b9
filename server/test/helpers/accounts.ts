import { expect } from 'chai';
import type { TestApp } from './test-app.js';
import { WebClient } from './web-client.js';

let counter = 0;

export type TestUser = { username: string; email: string; password: string; client: WebClient; id: string };

/**
 * Signs a new account up over HTTP and logs it in; returns a client holding its session cookie. Its address is
 * confirmed, as if the owner had followed the emailed link (unconfirmed accounts may store only
 * UNVERIFIED_QUOTA_BYTES; the link itself is tested in auth.test.ts and unconfirmed-uploads.test.ts); pass
 * confirmed: false for an account that never confirmed it.
 */
export async function signedInUser(app: TestApp, overrides: Partial<Pick<TestUser, 'username' | 'email' | 'password'>> & { confirmed?: boolean } = {}): Promise<TestUser> {
  counter += 1;
  const username = overrides.username ?? `user${counter}_${Date.now() % 100000}`;
  const email = overrides.email ?? `${username}@example.test`;
  const password = overrides.password ?? 'correct horse battery staple';
  const client = new WebClient(app.url);
  const signup = await client.post('/signup', { username, email, password, age: 'yes', terms: 'yes' });
  expect(signup.status, signup.body.toString().slice(0, 500)).to.equal(200);
  // Before the login, so no session of this account is cached with the old row.
  if (overrides.confirmed !== false) await app.db('users').where({ username_key: username.toLowerCase() }).update({ email_verified_at: new Date() });
  const login = await client.post('/login', { login: username, password });
  expect(login.status, login.body.toString().slice(0, 500)).to.equal(303);
  const row = (await app.db('users').where({ username_key: username.toLowerCase() }).first()) as { id: string };
  return { username, email, password, client, id: row.id };
}
