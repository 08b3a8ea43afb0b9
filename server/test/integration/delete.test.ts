import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { expectJsonError } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('deleting with the secret link', () => {
  let app: TestApp;
  let image: { id: string; url: string; pageUrl: string; thumbnailUrl: string; deleteUrl: string };
  beforeEach(async () => {
    app = await startTestApp();
    image = (await upload(app.url, { bytes: await fixtures.png() })).json();
  });
  afterEach(() => app.close());

  const allLinks = () => [image.url, image.thumbnailUrl, image.pageUrl];

  it('GET only shows a confirmation page (prefetchers and link previews delete nothing)', async () => {
    const res = await rawRequest(image.deleteUrl);
    expect(res.status).to.equal(200);
    expect(res.body.toString()).to.include('Delete this image?').and.include('<form method="post">');
    expect(res.headers).to.include({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    for (const url of allLinks()) expect((await rawRequest(url)).status, url).to.equal(200);
  });

  it('POST with JSON deletes the row and moves every stored variant to the recovery store; every link answers 404 straight afterwards', async () => {
    const live = await app.storedKeys();
    expect(live).to.have.length(3);
    const res = await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } });
    expect(res.status).to.equal(200);
    expect(res.json()).to.deep.equal({ deleted: true });
    for (const url of allLinks()) expect((await rawRequest(url)).status, url).to.equal(404);
    expect(await app.storedKeys()).to.deep.equal([]);
    const [item] = await app.db('recovery_items').where({ image_id: image.id });
    expect(item, 'recovery item').to.include({ reason: 'delete_key' });
    expect(Boolean(item.bytes_moved)).to.equal(true);
    expect(await app.recoveryKeys()).to.deep.equal(live.map((key) => `recovery/${item.token}/${key}`).sort());
    expect(await app.db('images').where({ id: image.id })).to.have.length(0);
    const log = await app.db('security_log').where({ event: 'image.delete' });
    expect(log).to.have.length(1);
    expect(JSON.parse(log[0].detail)).to.deep.equal({ imageId: image.id, by: 'delete_key' });
    // The link is spent: a second POST and the confirm page are 404s.
    expectJsonError(await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'application/json' } }), 404, 'not_found');
    expect((await rawRequest(image.deleteUrl)).status).to.equal(404);
  });

  it('a browser form post renders a "deleted" page', async () => {
    const res = await rawRequest(image.deleteUrl, { method: 'POST', headers: { Accept: 'text/html', 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.alloc(0) });
    expect(res.status).to.equal(200);
    expect(res.body.toString()).to.match(/deleted/i);
    expect((await rawRequest(image.url)).status).to.equal(404);
  });

  it('answers a wrong, truncated or other image\'s key exactly like a missing id, and deletes nothing', async () => {
    const other = (await upload(app.url, { bytes: await fixtures.png() })).json();
    const key = image.deleteUrl.split('/').pop()!;
    const otherKey = other.deleteUrl.split('/').pop()!;
    const missing = (await rawRequest(`${app.url}/delete/AAAAAAAAAAAA/${key}`, { method: 'POST', headers: { Accept: 'application/json' } })).json();
    for (const path of [
      `/delete/${image.id}/${otherKey}`,
      `/delete/${image.id}/${key.slice(0, -1)}`,
      `/delete/${image.id}/${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`,
      `/delete/${image.id}/${key.toLowerCase()}`,
      `/delete/${image.id}/${'x'.repeat(5000)}`,
    ]) {
      const res = await rawRequest(`${app.url}${path}`, { method: 'POST', headers: { Accept: 'application/json' } });
      expectJsonError(res, 404, 'not_found');
      expect(res.json()).to.deep.equal(missing);
      expect((await rawRequest(`${app.url}${path}`)).status).to.equal(404);
    }
    for (const url of allLinks()) expect((await rawRequest(url)).status, url).to.equal(200);
    expect(await app.storedKeys()).to.have.length(6);
  });

});
