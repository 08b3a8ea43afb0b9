import { expect } from 'chai';
import { insertInBatches } from '../../../db/knex.js';
import { newImageId } from '../../../lib/ids.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

type Visibility = 'public' | 'unlisted' | 'private';
type Row = { id: string; created_at: Date; visibility: Visibility };

/** Images rows as the upload pipeline writes them (no bytes: these pages only link to them). */
function imageRows(ownerId: string, count: number, visibilityOf: (i: number) => Visibility): Row[] {
  const base = Date.UTC(2026, 0, 1);
  // Pairs of images share a created_at, so the pages must break ties by id.
  return Array.from({ length: count }, (_, i) => ({
    id: newImageId(),
    delete_key_hash: 'a'.repeat(64),
    original_name: `IMG_${i}.jpg`,
    mime: 'image/jpeg',
    ext: 'jpg',
    size: 1000,
    width: 800,
    height: 600,
    frames: 1,
    sha256: 'b'.repeat(64),
    thumb_size: 100,
    thumb_width: 400,
    thumb_height: 300,
    thumb_sha256: 'c'.repeat(64),
    created_at: new Date(base + Math.floor(i / 2) * 1000),
    owner_id: ownerId,
    visibility: visibilityOf(i),
  }));
}

const newestFirst = (rows: Row[]) => [...rows].sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1)).map((r) => r.id);
const idsOn = (html: string) => [...html.matchAll(/href="[^"]*\/i\/([0-9A-Za-z]{12})"/g)].map((m) => m[1]!);
const nextOf = (html: string) => /href="([^"]+)" rel="next"/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;

async function addAll(user: TestUser, albumId: string, ids: string[]) {
  for (let i = 0; i < ids.length; i += 500) {
    const body = Buffer.from(JSON.stringify({ imageIds: ids.slice(i, i + 500) }));
    const path = `/account/albums/${albumId}/images`;
    const res = await user.client.request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), Accept: 'application/json', 'X-CSRF-Token': await user.client.csrfFrom(`/account/albums/${albumId}`) },
      body,
    });
    expect(res.status, res.body.toString().slice(0, 200)).to.equal(200);
  }
}

/** Every page of the share page from the first, following its Next links; the ids in order and each page's HTML. */
async function walk(client: WebClient, first: string): Promise<{ ids: string[]; pages: string[] }> {
  const ids: string[] = [];
  const pages: string[] = [];
  for (let path: string | null = first; path; ) {
    const res = await client.get(path);
    expect(res.status, path).to.equal(200);
    const html = res.body.toString();
    pages.push(html);
    ids.push(...idsOn(html));
    path = nextOf(html);
    expect(pages.length, 'a walk that ends').to.be.below(10);
  }
  return { ids, pages };
}

describe('accounts: album share pages (keyset pages)', () => {
  let app: TestApp;
  let alice: TestUser;
  let albumId: string;
  let rows: Row[];
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app, { username: 'alice' });
    rows = imageRows(alice.id, 160, (i) => (i % 5 === 4 ? 'private' : i % 2 ? 'unlisted' : 'public'));
    await app.db.transaction((trx) => insertInBatches(trx, 'images', rows));
    const res = await alice.client.post('/account/albums', { title: 'Big' });
    albumId = /\/account\/albums\/(\w+)$/.exec(String(res.headers.location))![1]!;
    await addAll(alice, albumId, rows.map((r) => r.id));
  });
  afterEach(() => app.close());

  it('keeps a copy of each image\'s created_at with its album membership, the order the pages walk', async () => {
    const members = (await app.db('album_images').where({ album_id: albumId }).select('image_id', 'image_created_at')) as Array<{ image_id: string; image_created_at: unknown }>;
    const created = new Map(rows.map((r) => [r.id, r.created_at.getTime()]));
    expect(members).to.have.length(rows.length);
    for (const m of members) expect(new Date(m.image_created_at as string | number | Date).getTime(), m.image_id).to.equal(created.get(m.image_id));
  });

  it('pages a guest through every shared image newest first (ties by id), 60 at a time, each exactly once', async () => {
    const shared = rows.filter((r) => r.visibility !== 'private');
    const { ids, pages } = await walk(new WebClient(app.url), `/a/${albumId}`);
    expect(ids).to.deep.equal(newestFirst(shared));
    expect(pages.map((p) => idsOn(p).length)).to.deep.equal([60, 60, shared.length - 120]);
    expect(pages[0]).to.include(`${shared.length} images`).and.not.include('Newest images');
    for (const page of pages.slice(1)) expect(page).to.include(`href="/a/${albumId}"`).and.include('Newest images');
  });

  it('pages the owner through the private images too', async () => {
    const { ids, pages } = await walk(alice.client, `/a/${albumId}`);
    expect(ids).to.deep.equal(newestFirst(rows));
    expect(pages[0]).to.include(`${rows.length} images`);
  });

  it('still answers an old ?page=N link with that page, its Next link a cursor to the page after', async () => {
    const guest = new WebClient(app.url);
    const expected = newestFirst(rows.filter((r) => r.visibility !== 'private'));
    const second = (await guest.get(`/a/${albumId}?page=2`)).body.toString();
    expect(idsOn(second)).to.deep.equal(expected.slice(60, 120));
    const third = (await guest.get(nextOf(second)!)).body.toString();
    expect(nextOf(second)).to.match(/\?after=/);
    expect(idsOn(third)).to.deep.equal(expected.slice(120));
    expect(nextOf(third)).to.equal(null);
    expect(idsOn((await guest.get(`/a/${albumId}?page=99`)).body.toString())).to.deep.equal([]);
  });

  it('answers a malformed cursor with 400 and a way back, never a 500', async () => {
    for (const after of ['garbage!', 'AAAA', Buffer.from('1.short').toString('base64url')]) {
      const res = await new WebClient(app.url).get(`/a/${albumId}?after=${encodeURIComponent(after)}`);
      expect(res.status, after).to.equal(400);
      expect(res.body.toString()).to.include('Start again from the first page');
    }
  });

  it('counts no further than 1000: a bigger album says "more than 1000 images"', async () => {
    const more = imageRows(alice.id, 1000, () => 'public');
    await app.db.transaction((trx) => insertInBatches(trx, 'images', more));
    await addAll(alice, albumId, more.map((r) => r.id));
    const html = (await new WebClient(app.url).get(`/a/${albumId}`)).body.toString();
    expect(html).to.include('More than 1000 images');
    expect(idsOn(html)).to.have.length(60);
  });
});
