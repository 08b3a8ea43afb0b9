import { expect } from 'chai';
import { createImagesRepo, ownerPageQuery, type OwnerListQuery } from '../../../db/images.repo.js';
import type { Db } from '../../../db/knex.js';
import { encodeCursor, listOwnerImages, PAGE_SIZE } from '../../../services/account-images.service.js';
import { fakeImage, insertFakeImages } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { dropIdleConnections } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const getJson = async (user: TestUser, path: string) => {
  const res = await user.client.get(path, { Accept: 'application/json' });
  expect(res.status, res.body.toString()).to.equal(200);
  return res.json() as { images: Array<{ id: string; title: string | null; originalName: string; label: string }>; next: string | null };
};

/** The owner's ids in the database's own order (its collation decides ties), for comparing pages with. */
async function idsInOrder(db: Db, ownerId: string, sort: 'newest' | 'oldest', offset = 0, limit = 1_000_000): Promise<string[]> {
  const direction = sort === 'oldest' ? 'asc' : 'desc';
  const rows = (await db('images').where({ owner_id: ownerId }).orderBy([{ column: 'created_at', order: direction }, { column: 'id', order: direction }]).offset(offset).limit(limit).select('id')) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

describe('accounts: My images listing', () => {
  let app: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
    bob = await signedInUser(app);
  });
  afterEach(() => app.close());

  it('walks every image exactly once, newest or oldest first, across pages with timestamp ties', async () => {
    // 130 images, four to a timestamp, so pages must break ties by id; Bob's images interleave and never show.
    const mine = Array.from({ length: 130 }, (_, i) => fakeImage({ ownerId: alice.id, createdAt: new Date(T0 + Math.floor(i / 4) * 1000) }));
    const his = Array.from({ length: 30 }, (_, i) => fakeImage({ ownerId: bob.id, createdAt: new Date(T0 + i * 1000) }));
    await insertFakeImages(app, [...mine, ...his]);
    for (const sort of ['newest', 'oldest'] as const) {
      const seen: string[] = [];
      const sizes: number[] = [];
      let next: string | null = null;
      do {
        const query = new URLSearchParams({ ...(sort === 'oldest' ? { sort } : {}), ...(next ? { after: next } : {}) });
        const page = await getJson(alice, `/account/images?${query}`);
        sizes.push(page.images.length);
        seen.push(...page.images.map((i) => i.id));
        next = page.next;
      } while (next);
      expect(sizes).to.deep.equal([60, 60, 10]);
      expect(seen).to.deep.equal(await idsInOrder(app.db, alice.id, sort));
    }
  });

  it('renders 60 thumbnails a page with a link to the next one', async () => {
    await insertFakeImages(app, Array.from({ length: 61 }, (_, i) => fakeImage({ ownerId: alice.id, createdAt: new Date(T0 + i), title: `Pic ${i}` })));
    const html = (await alice.client.get('/account/images')).body.toString();
    expect(html.match(/class="image-card"/g)).to.have.length(PAGE_SIZE);
    expect(html).to.include('Pic 60').and.not.include('>Pic 0<');
    const next = /href="(\/account\/images\?after=[^"]+)" rel="next"/.exec(html)?.[1];
    expect(next).to.be.a('string');
    const second = (await alice.client.get(next!.replace(/&amp;/g, '&'))).body.toString();
    expect(second.match(/class="image-card"/g)).to.have.length(1);
    expect(second).to.include('Pic 0').and.not.include('rel="next"');
  });

  it('searches titles and original file names case-insensitively, taking % and _ literally', async () => {
    await insertFakeImages(app, [
      fakeImage({ ownerId: alice.id, title: 'Summer at the BEACH', originalName: 'a.png' }),
      fakeImage({ ownerId: alice.id, title: null, originalName: 'IMG_0001.JPG' }),
      fakeImage({ ownerId: alice.id, title: '100% cotton', originalName: 'b.png' }),
      fakeImage({ ownerId: alice.id, title: 'Winter', originalName: 'beachball.png' }),
      fakeImage({ ownerId: bob.id, title: 'Beach (Bob)', originalName: 'c.png' }),
    ]);
    const labels = async (q: string) => (await getJson(alice, `/account/images?q=${encodeURIComponent(q)}`)).images.map((i) => i.label).sort();
    expect(await labels('beach')).to.deep.equal(['Summer at the BEACH', 'Winter']);
    expect(await labels('img_')).to.deep.equal(['IMG_0001.JPG']);
    expect(await labels('_')).to.deep.equal(['IMG_0001.JPG']);
    expect(await labels('%')).to.deep.equal(['100% cotton']);
    expect(await labels('0%')).to.deep.equal(['100% cotton']);
    expect(await labels('\\')).to.deep.equal([]);
    expect(await labels('bob')).to.deep.equal([]);
    expect(await labels('  ')).to.have.length(4);
    const html = (await alice.client.get('/account/images?q=nothing-matches')).body.toString();
    expect(html).to.include('No images match “nothing-matches”');
  });

  it('answers a bad cursor or sort with 400 and a message that says what to do', async () => {
    for (const after of ['garbage!', 'bm90LWEtY3Vyc29y', encodeCursor({ createdAt: new Date(T0), id: 'short' }), 'A'.repeat(200)]) {
      const res = await alice.client.get(`/account/images?after=${encodeURIComponent(after)}`, { Accept: 'application/json' });
      expect(expectJsonError(res, 400, 'bad_cursor')).to.match(/first page/);
    }
    const html = await alice.client.get('/account/images?after=garbage');
    expect(html.status).to.equal(400);
    expect(html.body.toString()).to.include('That page link is not valid');
    expectJsonError(await alice.client.get('/account/images?sort=random', { Accept: 'application/json' }), 400, 'bad_sort');
  });

  it('sends a guest to the login page, and answers 401 to an API client', async () => {
    const guest = await fetch(`${app.url}/account/images`, { redirect: 'manual' });
    expect(guest.status).to.equal(303);
    expect(guest.headers.get('location')).to.equal('/login');
    expect((await fetch(`${app.url}/account/images`, { headers: { Accept: 'application/json' } })).status).to.equal(401);
  });
});

describe('accounts: My images at 100,000 images', function () {
  this.timeout(240_000);
  let app: TestApp;
  let owner: TestUser;
  const COUNT = 100_000;
  before(async () => {
    app = await startTestApp();
  });
  // Its 200,200 rows are removed here, within this suite's time budget, not by the next test's shared reset (30 s):
  // that takes ~1.7 s on PostgreSQL, but a CI run's disk stalled long enough to time the reset out.
  after(async () => {
    await app.db('images').delete();
    await app.close();
  });

  /**
   * COUNT rows in one INSERT … SELECT per dialect (far faster than 200 batches): ids are the prefix and 11 digits,
   * one image a second from T0 (every 50th pair shares a timestamp, so ties are exercised at depth), and every
   * 1000th has the title "Marker <n>".
   */
  async function bulkInsert(db: Db, rows: { prefix: string; ownerId: string | null; offsetMs: number }): Promise<void> {
    const columns = 'id, delete_key_hash, original_name, mime, ext, size, width, height, frames, sha256, thumb_size, thumb_width, thumb_height, thumb_sha256, created_at, owner_id, visibility, title';
    const ms = (cast: string) => `(cast(? as ${cast}) + (n - case when n % 50 = 1 then 1 else 0 end) * 1000 + ?)`;
    const values = (id: string, createdAt: string) =>
      `${id}, '${'a'.repeat(64)}', 'img-' || n || '.png', 'image/png', 'png', 1000, 10, 10, 1, '${'b'.repeat(64)}', 100, 10, 10, '${'c'.repeat(64)}', ${createdAt}, ?, 'unlisted', case when n % 1000 = 0 then 'Marker ' || n else null end`;
    if (db.dialect === 'postgres') {
      await db.raw(
        `insert into images (${columns}) select ${values(`? || lpad(n::text, 11, '0')`, `timestamptz 'epoch' + ${ms('bigint')} * interval '1 millisecond'`)} from generate_series(0, ? - 1) as s(n)`,
        [rows.prefix, T0, rows.offsetMs, rows.ownerId, COUNT],
      );
    } else {
      await db.raw(
        `with recursive s(n) as (select 0 union all select n + 1 from s where n + 1 < ?) insert into images (${columns}) select ${values(`? || printf('%011d', n)`, ms('integer'))} from s`,
        [COUNT, rows.prefix, T0, rows.offsetMs, rows.ownerId],
      );
    }
  }

  type PlanRow = { detail: string };
  type PgPlan = { 'Node Type': string; 'Index Name'?: string; Plans?: PgPlan[] };
  const flatten = (plan: PgPlan): PgPlan[] => [plan, ...(plan.Plans ?? []).flatMap(flatten)];

  /** The plan of exactly the query the app runs, as a list of "<node> <index>" strings. */
  async function planOf(query: OwnerListQuery): Promise<string[]> {
    const { sql, bindings } = ownerPageQuery(app.db, owner.id, query).toSQL();
    if (app.db.dialect === 'postgres') {
      const result = await app.db.raw<{ rows: Array<{ 'QUERY PLAN': Array<{ Plan: PgPlan }> }> }>(`explain (format json) ${sql}`, bindings);
      return flatten(result.rows[0]!['QUERY PLAN'][0]!.Plan).map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`.trim());
    }
    return (await app.db.raw<PlanRow[]>(`explain query plan ${sql}`, bindings)).map((r) => r.detail);
  }

  function expectIndexedPlan(plan: string[]): void {
    const text = plan.join(' | ');
    expect(text, text).to.include('images_owner_id_created_at_id_index');
    expect(text, 'no full scan').not.to.match(/Seq Scan|SCAN images(?! USING)/);
    expect(text, 'no sort step').not.to.match(/\bSort\b|TEMP B-TREE/);
  }

  it('returns the right rows for first, deep and searched pages, using the (owner_id, created_at, id) index', async () => {
    owner = await signedInUser(app);
    const other = await signedInUser(app);
    // The owner's 100,000 images and as many guest uploads interleaved in time, as on a busy instance.
    await bulkInsert(app.db, { prefix: 'p', ownerId: owner.id, offsetMs: 0 });
    await bulkInsert(app.db, { prefix: 'g', ownerId: null, offsetMs: 500 });
    await insertFakeImages(app, Array.from({ length: 200 }, (_, i) => fakeImage({ ownerId: other.id, createdAt: new Date(T0 + i * 500) })));
    await app.db.raw('analyze');
    // SQLite's inserts block the event loop, so the server may now be closing idle keep-alive sockets: use new ones.
    dropIdleConnections();
    expect(Number((await app.db('images').where({ owner_id: owner.id }).count({ n: '*' }))[0]!.n)).to.equal(COUNT);

    const images = createImagesRepo(app.db);
    const first = await listOwnerImages({ repos: { images } }, owner.id, { sort: 'newest', search: '', after: null });
    expect(first.images.map((i) => i.id)).to.deep.equal(await idsInOrder(app.db, owner.id, 'newest', 0, PAGE_SIZE));

    // A page deep in the middle, reached by a cursor, as the route reads it.
    const [pivotId] = await idsInOrder(app.db, owner.id, 'newest', 50_000, 1);
    const pivot = (await images.findById(pivotId!))!;
    const after = encodeCursor(pivot);
    const deep = (await owner.client.get(`/account/images?after=${after}`, { Accept: 'application/json' })).json() as { images: Array<{ id: string }>; next: string };
    expect(deep.images.map((i) => i.id)).to.deep.equal(await idsInOrder(app.db, owner.id, 'newest', 50_001, PAGE_SIZE));
    expect(deep.next).to.equal(encodeCursor(((await images.findById(deep.images[PAGE_SIZE - 1]!.id))!)));

    const oldestDeep = await listOwnerImages({ repos: { images } }, owner.id, { sort: 'oldest', search: '', after: pivot });
    expect(oldestDeep.images.map((i) => i.id)).to.deep.equal((await idsInOrder(app.db, owner.id, 'newest', 50_000 - PAGE_SIZE, PAGE_SIZE)).reverse());

    const markers = await listOwnerImages({ repos: { images } }, owner.id, { sort: 'newest', search: 'marker 9', after: null });
    expect(markers.images.map((i) => i.title)).to.deep.equal(['Marker 99000', 'Marker 98000', 'Marker 97000', 'Marker 96000', 'Marker 95000', 'Marker 94000', 'Marker 93000', 'Marker 92000', 'Marker 91000', 'Marker 90000', 'Marker 9000']);

    expectIndexedPlan(await planOf({ sort: 'newest', after: null, limit: PAGE_SIZE + 1 }));
    expectIndexedPlan(await planOf({ sort: 'newest', after: pivot, limit: PAGE_SIZE + 1 }));
    expectIndexedPlan(await planOf({ sort: 'oldest', after: pivot, limit: PAGE_SIZE + 1 }));
  });
});
