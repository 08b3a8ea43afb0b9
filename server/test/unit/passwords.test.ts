import { expect } from 'chai';
import { hashCost, hashPassword, isCommonPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from '../../lib/passwords.js';
import { startTestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

describe('passwords', () => {
  it('hashes with bcrypt at the given cost and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple', 5);
    expect(hash).to.match(/^\$2b\$05\$/);
    expect(hashCost(hash)).to.equal(5);
    expect(await verifyPassword('correct horse battery staple', hash)).to.equal(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).to.equal(false);
  });

  it("counts characters past bcrypt's 72-byte limit", async () => {
    const base = 'x'.repeat(72);
    const hash = await hashPassword(`${base}A`, 4);
    expect(await verifyPassword(`${base}B`, hash)).to.equal(false);
    expect(await verifyPassword(`${base}A`, hash)).to.equal(true);
  });

  it('treats a NUL byte as an ordinary character (bcrypt alone would stop there)', async () => {
    const hash = await hashPassword('abcdefgh\u0000one', 4);
    expect(await verifyPassword('abcdefgh\u0000two', hash)).to.equal(false);
  });

  it('accepts composed and decomposed forms of the same accented password', async () => {
    const hash = await hashPassword('caf\u00e9 au lait', 4);
    expect(await verifyPassword('cafe\u0301 au lait', hash)).to.equal(true);
  });

  it('the dummy comparison never succeeds', async () => {
    expect(await verifyAgainstDummy('pixbin-dummy-password-for-timing', 4)).to.equal(false);
  });

  it('applies length and common-password rules only', () => {
    expect(passwordProblem('short')).to.equal('too_short');
    expect(passwordProblem('x'.repeat(129))).to.equal('too_long');
    expect(passwordProblem('😀'.repeat(128)), '128 characters, not bytes').to.equal(null);
    expect(passwordProblem('password1')).to.equal('too_common');
    expect(passwordProblem('PASSWORD1'), 'case-insensitive').to.equal('too_common');
    expect(passwordProblem('alicealice', { username: 'AliceAlice' })).to.equal('too_common');
    expect(passwordProblem('alllowercase and no digits')).to.equal(null);
    expect(isCommonPassword('qwertyuiop')).to.equal(true);
  });

  it('stores cost-12 hashes when BCRYPT_COST is left at its default', async function () {
    this.timeout(20_000);
    const app = await startTestApp({}, { realBcryptCost: true });
    try {
      const res = await new WebClient(app.url).post('/signup', { username: 'costly', email: 'costly@example.test', password: 'correct horse battery', age: 'yes', terms: 'yes' });
      expect(res.status).to.equal(200);
      const row = await app.db('users').where({ username_key: 'costly' }).first();
      expect(hashCost(row.password_hash)).to.equal(12);
    } finally {
      await app.close();
    }
  });
});
