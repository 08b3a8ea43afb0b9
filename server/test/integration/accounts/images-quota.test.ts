import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { expectConsistentUsage, ownerPost, ownerUpload, usageOfUser } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError, expectNothingLeft, waitForEmptyTemp } from '../../helpers/assertions.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

describe('accounts: storage quota', () => {
  let app: TestApp;
  let alice: TestUser;
  let png: Buffer;
  before(async () => {
    png = await fixtures.png();
  });
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
  });
  afterEach(() => app.close());

  const setQuota = (userId: string, quota: number | null, used?: number) =>
    app.db('users').where({ id: userId }).update({ quota_bytes: quota, ...(used === undefined ? {} : { used_bytes: used }) });

  /** What one upload of the fixture costs (original + thumbnail); re-encoding is deterministic. */
  async function costOfOne(): Promise<number> {
    const res = await ownerUpload(alice, png);
    expect(res.status).to.equal(201);
    return (await usageOfUser(app, alice.id)).used;
  }

  it('refuses an account already at its quota before processing anything: 413 quota_exceeded, nothing left', async () => {
    await setQuota(alice.id, 5000, 5000);
    const message = expectJsonError(await ownerUpload(alice, png), 413, 'quota_exceeded');
    expect(message).to.match(/storage is full/).and.match(/My images/);
    await expectNothingLeft(app);
    expect((await usageOfUser(app, alice.id)).used).to.equal(5000);
    // Not even read: a file that processing would refuse as 415 gets the quota answer.
    expectJsonError(await ownerUpload(alice, fixtures.htmlAsPng()), 413, 'quota_exceeded');
  });

  it('refuses an upload that does not fit in what is left, deleting the stored bytes, and says how much room there is', async () => {
    await setQuota(alice.id, 1000);
    const message = expectJsonError(await ownerUpload(alice, png), 413, 'quota_exceeded');
    expect(message).to.match(/needs .*B, but only 1000 B of your 1000 B storage is free/);
    await expectNothingLeft(app);
    expect((await usageOfUser(app, alice.id)).used).to.equal(0);
  });

  it('applies DEFAULT_QUOTA_BYTES when the account has no quota of its own', async () => {
    const small = await startTestApp({ DEFAULT_QUOTA_BYTES: '2000' });
    try {
      const bob = await signedInUser(small);
      expectJsonError(await ownerUpload(bob, png), 413, 'quota_exceeded');
      await expectNothingLeft(small);
      await small.db('users').where({ id: bob.id }).update({ quota_bytes: 10_000_000 });
      expect((await ownerUpload(bob, png)).status).to.equal(201);
    } finally {
      await small.close();
    }
  });

  it('never overshoots with 20 uploads at once near the limit: used_bytes stays within quota and equals what is stored', async function () {
    this.timeout(60_000);
    const cost = await costOfOne();
    const room = 7; // uploads that still fit
    const quota = cost + room * cost + Math.floor(cost / 2);
    await setQuota(alice.id, quota);
    const responses = await Promise.all(Array.from({ length: 20 }, () => ownerUpload(alice, png)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201), statuses.join(',')).to.have.length(room);
    expect(statuses.filter((s) => s === 413)).to.have.length(20 - room);
    for (const res of responses.filter((r) => r.status === 413)) expect(res.json().error.code).to.equal('quota_exceeded');
    const usage = await expectConsistentUsage(app, alice.id);
    expect(usage.used).to.be.at.most(quota).and.equal((room + 1) * cost);
    expect(usage.rows).to.equal(room + 1);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  it('gives the bytes back on every delete path: one, bulk, and the delete link of an owned image', async () => {
    const ids: string[] = [];
    const links: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const body = (await ownerUpload(alice, png)).json();
      ids.push(body.id);
      links.push(body.deleteUrl);
    }
    const cost = (await usageOfUser(app, alice.id)).used / 4;

    expect((await ownerPost(alice, `/account/images/${ids[0]}/delete`, {}, { json: true })).json()).to.deep.equal({ deleted: 1 });
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(3 * cost);

    expect((await ownerPost(alice, '/account/images/delete', { ids: [ids[1]!, ids[2]!] }, { json: true })).json()).to.deep.equal({ deleted: 2 });
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(cost);

    const viaLink = await rawRequest(links[3]!, { method: 'POST', headers: { Accept: 'application/json' } });
    expect(viaLink.status).to.equal(200);
    expect((await expectConsistentUsage(app, alice.id)).used).to.equal(0);
    expect(await app.storedKeys()).to.deep.equal([]);

    // Room again for a new upload.
    await setQuota(alice.id, cost);
    expect((await ownerUpload(alice, png)).status).to.equal(201);
  });
});
