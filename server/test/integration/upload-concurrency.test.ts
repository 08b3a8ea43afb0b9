import { expect } from 'chai';
import sharp from 'sharp';
import { waitForEmptyTemp } from '../helpers/assertions.js';
import { rawRequest, upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { scene } from '../fixtures/scenes.js';

type Created = { id: string; url: string; thumbnailUrl: string };

/** A photo-sized JPEG, cheap to make: a small scene scaled up, so each seed gives different bytes. */
async function photo(seed: number, width: number, height: number): Promise<Buffer> {
  return sharp(await scene(seed, 320, 240)).resize(width, height, { fit: 'fill' }).jpeg({ quality: 85 }).toBuffer();
}

describe('uploads beyond what is processed at once', function () {
  this.timeout(120_000);
  let app: TestApp;
  afterEach(() => app.close());

  it('waits for a processing slot and then succeeds, every one of them, leaving no temp file', async () => {
    app = await startTestApp({ IMAGE_CONCURRENCY: '1' });
    const files = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => photo(seed, 1200, 900)));
    const answers = await Promise.all(files.map((bytes, i) => upload(app.url, { bytes, filename: `p${i}.jpg`, contentType: 'image/jpeg' })));
    expect(answers.map((r) => r.status)).to.deep.equal([201, 201, 201, 201, 201, 201]);
    const created = answers.map((r) => r.json() as Created);
    expect(new Set(created.map((c) => c.id)).size).to.equal(6);
    for (const c of created) {
      const original = await rawRequest(c.url);
      expect(original.status, c.url).to.equal(200);
      expect((await sharp(original.body).metadata()).width).to.equal(1200);
      expect((await rawRequest(c.thumbnailUrl)).status, c.thumbnailUrl).to.equal(200);
    }
    const rows = (await app.db('images').count({ n: '*' }).first()) as { n: number | string };
    expect(Number(rows.n)).to.equal(6);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  it('processes large photos one at a time within the pixel budget, and every upload still succeeds', async () => {
    // Three 20 MP photos, IMAGE_CONCURRENCY 2: over the 30 MP budget together, they take turns from decode to hash.
    app = await startTestApp({ IMAGE_CONCURRENCY: '2' });
    const files = await Promise.all([7, 8, 9].map((seed) => photo(seed, 5000, 4000)));
    const answers = await Promise.all(files.map((bytes, i) => upload(app.url, { bytes, filename: `big${i}.jpg`, contentType: 'image/jpeg' })));
    expect(answers.map((r) => r.status)).to.deep.equal([201, 201, 201]);
    for (const c of answers.map((r) => r.json() as Created)) {
      const meta = await sharp((await rawRequest(c.url)).body).metadata();
      expect([meta.width, meta.height]).to.deep.equal([5000, 4000]);
    }
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });
});
