import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { fakeImage, insertFakeImages, ownerPost, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { rawRequest, type RawResponse } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

describe('accounts: visibility of images', () => {
  let app: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let png: Buffer;
  before(async () => {
    png = await fixtures.png();
  });
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app);
    bob = await signedInUser(app);
  });
  afterEach(() => app.close());

  const uploadAs = async (user: TestUser, visibility: 'public' | 'unlisted' | 'private', title?: string): Promise<string> => {
    const id = (await ownerUpload(user, png)).json().id as string;
    if (visibility !== 'unlisted') expect((await ownerPost(user, `/account/images/${id}/visibility`, { visibility }, { json: true })).status).to.equal(200);
    if (title) await ownerPost(user, `/account/images/${id}/title`, { title }, { json: true });
    return id;
  };
  /** Every way of reaching an image: share page, direct link, thumbnail, HEADs, and the result page. */
  const routesOf = (id: string) => [
    ['GET', `/i/${id}`],
    ['GET', `/i/${id}.png`],
    ['GET', `/t/${id}.webp`],
    ['HEAD', `/i/${id}`],
    ['HEAD', `/i/${id}.png`],
    ['HEAD', `/t/${id}.webp`],
    ['GET', `/upload/${id}`],
  ] as const;
  const fetchAs = (client: WebClient | null, method: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    client ? client.request(path, { method, headers: { Accept: 'text/html', ...headers } }) : rawRequest(`${app.url}${path}`, { method, headers: { Accept: 'text/html', ...headers } });

  it('answers a private image with the same 404 as a missing one to guests and other users, on every route', async () => {
    const id = await uploadAs(alice, 'private');
    const missing = 'AAAAAAAAAAAA';
    for (const [method, path] of routesOf(id)) {
      for (const [who, client] of [['guest', null], ['bob', bob.client]] as const) {
        const expected = await fetchAs(client, method, path.replace(id, missing));
        const res = await fetchAs(client, method, path);
        expect(res.status, `${who} ${method} ${path}`).to.equal(404);
        expect(res.headers['cache-control'], `${who} ${method} ${path}`).to.equal('no-store');
        // The same page, but for the per-request CSRF token in the header's logout form.
        const normalise = (body: Buffer) => body.toString().replace(/name="_csrf" value="[^"]*"/g, '');
        expect(normalise(res.body), `${who} ${method} ${path}`).to.equal(normalise(expected.body));
      }
    }
    const json = await bob.client.request(`/i/${id}.png`, { headers: { Accept: 'application/json' } });
    expectJsonError(json, 404, 'not_found');
  });

  it('shows a private image to its owner, never publicly cacheable, with ETag and 304 still working', async () => {
    const id = await uploadAs(alice, 'private');
    for (const [method, path] of routesOf(id)) {
      const res = await fetchAs(alice.client, method, path);
      expect(res.status, `${method} ${path}`).to.equal(200);
      if (!path.startsWith('/upload/')) expect(res.headers['cache-control'], `${method} ${path}`).to.equal('private, no-cache');
    }
    const first = await fetchAs(alice.client, 'GET', `/i/${id}.png`);
    const again = await fetchAs(alice.client, 'GET', `/i/${id}.png`, { 'If-None-Match': String(first.headers.etag) });
    expect(again.status).to.equal(304);
    expect(again.headers['cache-control']).to.equal('private, no-cache');
    const thumb = await fetchAs(alice.client, 'GET', `/t/${id}.webp`);
    expect((await fetchAs(alice.client, 'GET', `/t/${id}.webp`, { 'If-None-Match': String(thumb.headers.etag) })).status).to.equal(304);
  });

  it('serves unlisted and public images to anyone with the year of immutable caching', async () => {
    for (const visibility of ['unlisted', 'public'] as const) {
      const id = await uploadAs(alice, visibility);
      for (const path of [`/i/${id}.png`, `/t/${id}.webp`]) {
        const res = await fetchAs(null, 'GET', path);
        expect(res.status).to.equal(200);
        expect(res.headers['cache-control']).to.equal(IMMUTABLE);
      }
      expect((await fetchAs(null, 'GET', `/i/${id}`)).status).to.equal(200);
    }
  });

  it('makes a private image visible again when it is switched back to unlisted', async () => {
    const id = await uploadAs(alice, 'private');
    expect((await fetchAs(null, 'GET', `/i/${id}.png`)).status).to.equal(404);
    await ownerPost(alice, `/account/images/${id}/visibility`, { visibility: 'unlisted' }, { json: true });
    expect((await fetchAs(null, 'GET', `/i/${id}.png`)).status).to.equal(200);
  });

  it('lists only public images on the profile page, newest first, and never unlisted or private ones', async () => {
    const older = await uploadAs(alice, 'public', 'Older public');
    await uploadAs(alice, 'unlisted', 'Unlisted one');
    await uploadAs(alice, 'private', 'Private one');
    const newer = await uploadAs(alice, 'public', 'Newer public');
    await uploadAs(bob, 'public', 'Bob public');
    for (const client of [null, bob.client, alice.client]) {
      const res = await fetchAs(client, 'GET', `/u/${alice.username}`, { Accept: 'application/json' });
      expect(res.status).to.equal(200);
      expect(res.json().images.map((i: { id: string }) => i.id)).to.deep.equal([newer, older]);
    }
    const html = (await fetchAs(null, 'GET', `/u/${alice.username.toUpperCase()}`)).body.toString();
    expect(html).to.include('Newer public').and.include('Older public');
    expect(html).not.to.include('Unlisted one').and.not.include('Private one').and.not.include('Bob public');
  });

  it('pages a profile like My images, and answers an unknown user or a bad cursor plainly', async () => {
    const base = Date.parse('2026-02-01T00:00:00Z');
    await insertFakeImages(app, [
      ...Array.from({ length: 65 }, (_, i) => fakeImage({ ownerId: alice.id, visibility: 'public', createdAt: new Date(base + i * 1000), title: `Public ${i}` })),
      ...Array.from({ length: 10 }, (_, i) => fakeImage({ ownerId: alice.id, visibility: 'private', createdAt: new Date(base + i * 1000 + 500) })),
    ]);
    const first = (await fetchAs(null, 'GET', `/u/${alice.username}`, { Accept: 'application/json' })).json();
    expect(first.images).to.have.length(60);
    expect(first.images[0].title).to.equal('Public 64');
    const second = (await fetchAs(null, 'GET', `/u/${alice.username}?after=${first.next}`, { Accept: 'application/json' })).json();
    expect(second.images.map((i: { title: string }) => i.title)).to.deep.equal(['Public 4', 'Public 3', 'Public 2', 'Public 1', 'Public 0']);
    expect(second.next).to.equal(null);
    const html = (await fetchAs(null, 'GET', `/u/${alice.username}`)).body.toString();
    expect(html).to.match(/href="\/u\/[^"?]+\?after=[^"]+" rel="next"/);

    expectJsonError(await fetchAs(null, 'GET', '/u/nobody-here', { Accept: 'application/json' }), 404, 'not_found');
    expect((await fetchAs(null, 'GET', '/u/bad%20name')).status).to.equal(404);
    expect((await fetchAs(null, 'GET', `/u/${'a'.repeat(40)}`)).status).to.equal(404);
    expectJsonError(await fetchAs(null, 'GET', `/u/${alice.username}?after=nonsense`, { Accept: 'application/json' }), 400, 'bad_cursor');
  });
});
