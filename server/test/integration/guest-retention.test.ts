import { createContainer } from '../../container.js';
import { expect } from 'chai';
import pino from 'pino';
import { JOBS } from '../../jobs/index.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { expectJsonError, expectNothingLeft } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { WebClient } from '../helpers/web-client.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('guest uploads: "delete after" (promise 3)', function () {
  this.timeout(60_000);
  let app: TestApp;
  afterEach(() => app.close());

  const withExpiry = (value: string) => ({ extraParts: [{ name: 'expires', value }] });
  const expireJob = (at: Date) => createScheduler(createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) }), JOBS, { now: async () => at }).run('expire-guest-uploads');

  describe('with the default settings (no ceiling)', () => {
    beforeEach(async () => {
      app = await startTestApp();
    });

    it('keeps a guest upload until it is deleted unless the guest chooses otherwise', async () => {
      const kept = (await upload(app.url, { bytes: await fixtures.png() })).json();
      expect(kept.expiresAt).to.equal(null);
      expect((await rawRequest(kept.pageUrl)).body.toString()).not.to.include('Deletes itself');
      const page = await new WebClient(app.url).get('/');
      const options = [...page.body.toString().matchAll(/<option value="([^"]+)"( selected)?>/g)].map((m) => `${m[1]}${m[2] ? '*' : ''}`);
      expect(options).to.deep.equal(['never*', '1h', '1d', '7d', '30d']);
    });

    it('records the chosen time, shows it on the result and share pages, and the job deletes it then, not before', async () => {
      const before = Date.now();
      const res = await upload(app.url, { bytes: await fixtures.png() }, withExpiry('1h'));
      expect(res.status).to.equal(201);
      const image = res.json();
      const expiresAt = new Date(image.expiresAt).getTime();
      expect(expiresAt).to.be.within(before + HOUR, Date.now() + HOUR);
      const share = (await rawRequest(image.pageUrl)).body.toString();
      expect(share).to.include('Deletes itself').and.include(new Date(expiresAt).toISOString().slice(0, 16).replace('T', ' '));
      const browser = new WebClient(app.url);
      const form = await upload(app.url, { bytes: await fixtures.png() }, { ...withExpiry('7d'), headers: { Accept: 'text/html' } });
      const result = await browser.request(String(form.headers.location), { headers: { Cookie: String(form.headers['set-cookie']).split(';')[0]!, Accept: 'text/html' } });
      expect(result.body.toString()).to.include('It deletes itself on');

      expect(await expireJob(new Date(expiresAt - 60_000))).to.deep.include({ status: 'ran', result: { items: 0 } });
      expect((await rawRequest(image.url)).status).to.equal(200);
      expect(await expireJob(new Date(expiresAt + 1000))).to.deep.include({ status: 'ran', result: { items: 1 } });
      for (const url of [image.url, image.pageUrl, image.thumbnailUrl]) expect((await rawRequest(url)).status, url).to.equal(404);
      expect(await app.db('recovery_items').where({ image_id: image.id }).pluck('reason')).to.deep.equal(['expired']);
      const [log] = await app.db('security_log').where({ event: 'image.delete' });
      expect(JSON.parse(log.detail)).to.deep.equal({ imageIds: [image.id], by: 'expiry' });
      expect(log.ip).to.equal(null);
    });

    it('refuses a time that is not offered, and leaves nothing behind', async () => {
      for (const value of ['2h', 'forever', '1h; drop table images', 'x'.repeat(300)]) {
        expectJsonError(await upload(app.url, { bytes: await fixtures.png() }, withExpiry(value)), 400, 'bad_expiry');
      }
      await expectNothingLeft(app);
    });

    it('an account’s uploads never expire, and claiming a guest upload keeps it', async () => {
      const alice = await signedInUser(app);
      const mine = (await ownerUpload(alice, await fixtures.png())).json();
      expect(mine.expiresAt).to.equal(null);
      const guest = (await upload(app.url, { bytes: await fixtures.png() }, withExpiry('1d'))).json();
      const claim = await alice.client.post('/account/claim', { link: guest.deleteUrl }, { csrfPage: '/account/images', json: true });
      expect(claim.status, claim.body.toString()).to.equal(200);
      expect((await app.db('images').where({ id: guest.id }).first()).expires_at).to.equal(null);
      expect(await expireJob(new Date(Date.now() + 2 * DAY))).to.deep.include({ status: 'ran', result: { items: 0 } });
      expect((await rawRequest(guest.url)).status).to.equal(200);
    });
  });

  it('with GUEST_MAX_RETENTION_DAYS every guest upload expires within the ceiling, by default at the ceiling', async () => {
    app = await startTestApp({ GUEST_MAX_RETENTION_DAYS: '14' });
    const image = (await upload(app.url, { bytes: await fixtures.png() })).json();
    expect(new Date(image.expiresAt).getTime()).to.be.closeTo(Date.now() + 14 * DAY, 60_000);
    expectJsonError(await upload(app.url, { bytes: await fixtures.png() }, withExpiry('never')), 400, 'bad_expiry');
    expectJsonError(await upload(app.url, { bytes: await fixtures.png() }, withExpiry('30d')), 400, 'bad_expiry');
    const options = [...(await rawRequest(app.url)).body.toString().matchAll(/<option value="([^"]+)"( selected)?>/g)].map((m) => `${m[1]}${m[2] ? '*' : ''}`);
    expect(options).to.deep.equal(['1h', '1d', '7d', '14d*']);
  });

  it('a ceiling set later also removes older guest uploads that had no deletion time, and never an account’s', async () => {
    app = await startTestApp();
    const old = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const alice = await signedInUser(app);
    const mine = (await ownerUpload(alice, await fixtures.png())).json();
    await app.close();
    app = await startTestApp({ GUEST_MAX_RETENTION_DAYS: '7' });
    expect(await expireJob(new Date(Date.now() + 6 * DAY))).to.deep.include({ status: 'ran', result: { items: 0 } });
    expect(await expireJob(new Date(Date.now() + 8 * DAY))).to.deep.include({ status: 'ran', result: { items: 1 } });
    expect((await rawRequest(`${app.url}/i/${old.id}.png`)).status).to.equal(404);
    expect((await rawRequest(`${app.url}/i/${mine.id}.png`)).status).to.equal(200);
  });
});
