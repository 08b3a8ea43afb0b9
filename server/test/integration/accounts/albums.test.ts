import { expect } from 'chai';
import { createImagesRepo } from '../../../db/images.repo.js';
import { newImageId } from '../../../lib/ids.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { WebClient } from '../../helpers/web-client.js';

type Visibility = 'public' | 'unlisted' | 'private';
type AlbumRow = { id: string; owner_id: string; title: string; cover_image_id: string | null };

let seq = 0;

/** An images row as the upload pipeline writes it (no bytes: these tests never fetch the files). */
function imageRow(ownerId: string | null, visibility: Visibility, name: string, createdAt: Date) {
  return {
    id: newImageId(),
    delete_key_hash: 'a'.repeat(64),
    original_name: name,
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
    created_at: createdAt,
    owner_id: ownerId,
    visibility,
  };
}

/** An image owned by a user; each one is a second newer than the one before. */
async function ownedImage(app: TestApp, ownerId: string, visibility: Visibility = 'unlisted', name = 'photo.jpg'): Promise<string> {
  seq += 1;
  const row = imageRow(ownerId, visibility, name, new Date(Date.UTC(2026, 0, 1) + seq * 1000));
  await app.db('images').insert(row);
  return row.id;
}

/** Posts a form with a repeated field (checkboxes), which WebClient.post's record cannot express. */
async function postJson(client: WebClient, path: string, payload: object, csrfPage: string) {
  const body = Buffer.from(JSON.stringify(payload));
  return client.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), Accept: 'application/json', 'X-CSRF-Token': await client.csrfFrom(csrfPage) },
    body,
  });
}

async function createAlbum(user: TestUser, title = 'Holiday'): Promise<string> {
  const res = await user.client.post('/account/albums', { title });
  expect(res.status, res.body.toString().slice(0, 300)).to.equal(303);
  const id = /^\/account\/albums\/(\w+)$/.exec(String(res.headers.location))?.[1];
  expect(id).to.match(/^[0-9A-Za-z]{16}$/);
  return id!;
}

const manage = (id: string) => `/account/albums/${id}`;
const albumImageIds = async (app: TestApp, albumId: string) =>
  ((await app.db('album_images').where({ album_id: albumId }).orderBy('image_id')) as Array<{ image_id: string }>).map((r) => r.image_id).sort();
const albumRow = async (app: TestApp, id: string) => (await app.db('albums').where({ id }).first()) as AlbumRow | undefined;
const addImages = (user: TestUser, albumId: string, ids: string[], options: { json?: boolean } = {}) =>
  user.client.post(`${manage(albumId)}/images`, ids.map((id): [string, string] => ['image_id', id]), { csrfPage: manage(albumId), ...options });

describe('accounts: albums', () => {
  let app: TestApp;
  let alice: TestUser;
  beforeEach(async () => {
    app = await startTestApp();
    alice = await signedInUser(app, { username: 'alice' });
  });
  afterEach(() => app.close());

  describe('creating and listing', () => {
    it('creates an album with a 16-character base62 id and lists it with its image count and cover', async () => {
      const empty = await alice.client.get('/account/albums');
      expect(empty.status).to.equal(200);
      expect(empty.body.toString()).to.include('no albums yet');
      const id = await createAlbum(alice, '  Summer   2026  ');
      const row = await albumRow(app, id);
      expect(row).to.include({ owner_id: alice.id, title: 'Summer 2026', cover_image_id: null });

      const [a, b] = [await ownedImage(app, alice.id), await ownedImage(app, alice.id)];
      expect((await addImages(alice, id, [a, b])).status).to.equal(303);
      expect((await alice.client.post(`${manage(id)}/cover`, { image_id: b }, { csrfPage: manage(id) })).status).to.equal(303);
      const list = (await alice.client.get('/account/albums')).body.toString();
      expect(list).to.include('Summer 2026').and.include('2 images').and.include(`href="/account/albums/${id}"`);
      expect(list).to.include(`/t/${b}.webp`);
      expect(list).not.to.include(`/t/${a}.webp`);
    });

    it('strips control and bidi characters from titles and keeps up to 200 characters', async () => {
      const id = await createAlbum(alice, 'Trip\u202e gpj.exe\u0007\u200f to\tRome');
      expect((await albumRow(app, id))!.title).to.equal('Trip gpj.exe to Rome');
      const long = await createAlbum(alice, '🌊'.repeat(200));
      expect(Array.from((await albumRow(app, long))!.title)).to.have.length(200);
    });

    for (const [label, title, code] of [
      ['an empty title', '', 'title_required'],
      ['a title of only spaces and controls', '  \u0000\u202e\u2066 ', 'title_required'],
      ['a 201-character title', 'x'.repeat(201), 'title_too_long'],
    ] as const) {
      it(`refuses ${label} with 400 ${code} and creates nothing`, async () => {
        const html = await alice.client.post('/account/albums', { title });
        expect(html.status).to.equal(400);
        expect(html.body.toString()).to.include('role="alert"');
        expectJsonError(await alice.client.post('/account/albums', { title }, { json: true, csrfPage: '/account/albums' }), 400, code);
        expect(await app.db('albums')).to.have.length(0);
      });
    }

    it('answers JSON clients with the new album', async () => {
      const res = await alice.client.post('/account/albums', { title: 'API' }, { json: true, csrfPage: '/account/albums' });
      expect(res.status).to.equal(201);
      const body = res.json();
      expect(body.id).to.match(/^[0-9A-Za-z]{16}$/);
      expect(body.url).to.equal(`${app.url}/a/${body.id}`);
    });

    it('sends guests to the login page', async () => {
      const res = await new WebClient(app.url).get('/account/albums');
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal('/login');
    });
  });

  describe('managing images', () => {
    it('adds images (idempotently), lists the rest in the picker, sets the cover, removes and renames', async () => {
      const id = await createAlbum(alice);
      const [a, b, c] = [await ownedImage(app, alice.id, 'public', 'a.jpg'), await ownedImage(app, alice.id, 'unlisted', 'b.jpg'), await ownedImage(app, alice.id, 'private', 'c.jpg')];
      expect((await addImages(alice, id, [a, b])).status).to.equal(303);
      const again = await addImages(alice, id, [a, b, a], { json: true });
      expect(again.status).to.equal(200);
      expect(await albumImageIds(app, id)).to.deep.equal([a, b].sort());

      const page = (await alice.client.get(manage(id))).body.toString();
      const [inAlbum, picker] = page.split('id="add-heading"');
      expect(inAlbum).to.include(`value="${a}"`).and.include(`value="${b}"`).and.not.include(`value="${c}"`);
      expect(picker).to.include(`name="image_id" value="${c}"`).and.not.include(`value="${a}"`);
      expect(page).to.include('In this album (2)');

      const own = await ownedImage(app, alice.id);
      expect((await alice.client.post(`${manage(id)}/cover`, { image_id: own }, { csrfPage: manage(id) })).status, 'cover must be in the album').to.equal(404);
      expect((await alice.client.post(`${manage(id)}/cover`, { image_id: a }, { csrfPage: manage(id) })).status).to.equal(303);
      expect((await albumRow(app, id))!.cover_image_id).to.equal(a);

      expect((await alice.client.post(`${manage(id)}/images/remove`, [['image_id', a]], { csrfPage: manage(id) })).status).to.equal(303);
      expect(await albumImageIds(app, id)).to.deep.equal([b]);
      expect((await albumRow(app, id))!.cover_image_id, 'removing the cover clears it').to.equal(null);
      expect(await app.db('images').where({ id: a }), 'the image itself stays').to.have.length(1);

      expect((await alice.client.post(`${manage(id)}/rename`, { title: ' Rome ' }, { csrfPage: manage(id) })).status).to.equal(303);
      expect((await albumRow(app, id))!.title).to.equal('Rome');
      const bad = await alice.client.post(`${manage(id)}/rename`, { title: '\u200f' }, { csrfPage: manage(id) });
      expect(bad.status).to.equal(400);
      expect(bad.body.toString()).to.include('Give the album a title');
      expect((await albumRow(app, id))!.title).to.equal('Rome');
    });

    it('refuses the whole request with 404 if any id is not one of the owner\'s images', async () => {
      const bob = await signedInUser(app, { username: 'bob' });
      const id = await createAlbum(alice);
      const mine = await ownedImage(app, alice.id);
      const bobs = await ownedImage(app, bob.id, 'public');
      const guest = await ownedImage(app, alice.id);
      await app.db('images').where({ id: guest }).update({ owner_id: null });
      for (const ids of [[mine, bobs], [mine, guest], [mine, newImageId()], [mine, 'not-an-id']]) {
        const res = await addImages(alice, id, ids, { json: true });
        expectJsonError(res, 404, 'not_found');
      }
      expect(await albumImageIds(app, id)).to.deep.equal([]);
    });

    it('refuses an empty selection with 400, and more than 500 ids with 400, adding nothing', async () => {
      const id = await createAlbum(alice);
      expectJsonError(await addImages(alice, id, [], { json: true }), 400, 'no_images');
      const html = await addImages(alice, id, []);
      expect(html.status).to.equal(400);
      expect(html.body.toString()).to.include('Choose at least one image');
      const many = Array.from({ length: 501 }, () => newImageId());
      expectJsonError(await postJson(alice.client, `${manage(id)}/images`, { imageIds: many }, manage(id)), 400, 'too_many');
      expect(await albumImageIds(app, id)).to.deep.equal([]);
    });

    it('adds 500 images in one JSON request', async () => {
      const id = await createAlbum(alice);
      const rows = Array.from({ length: 500 }, (_, i) => imageRow(alice.id, 'unlisted', `${i}.jpg`, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
      await app.db('images').insert(rows);
      const res = await postJson(alice.client, `${manage(id)}/images`, { imageIds: rows.map((r) => r.id) }, manage(id));
      expect(res.status).to.equal(200);
      expect(res.json()).to.deep.equal({ added: 500 });
      expect(await albumImageIds(app, id)).to.have.length(500);
      const page = (await alice.client.get(manage(id))).body.toString();
      expect(page).to.include('In this album (500)').and.include('Page 1 of 9');
      expect((await alice.client.get(`${manage(id)}?page=9`)).body.toString().match(/images\/remove/g)).to.have.length(20);
    });

    it('pages the picker so one form stays under the body parser\'s field limit', async () => {
      const id = await createAlbum(alice);
      for (let i = 0; i < 50; i += 1) await ownedImage(app, alice.id);
      const first = (await alice.client.get(manage(id))).body.toString();
      expect(first.match(/type="checkbox" name="image_id"/g)).to.have.length(48);
      expect(first).to.include('Your images not in this album (50)').and.include(`?page=1&amp;pick=2`);
      const second = (await alice.client.get(`${manage(id)}?pick=2`)).body.toString();
      expect(second.match(/type="checkbox" name="image_id"/g)).to.have.length(2);
    });

    it('deletes the album but never its images', async () => {
      const id = await createAlbum(alice);
      const a = await ownedImage(app, alice.id);
      await addImages(alice, id, [a]);
      const res = await alice.client.post(`${manage(id)}/delete`, {}, { csrfPage: manage(id) });
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal('/account/albums');
      expect(await albumRow(app, id)).to.equal(undefined);
      expect(await app.db('album_images')).to.have.length(0);
      expect(await app.db('images').where({ id: a })).to.have.length(1);
      expect((await alice.client.get(manage(id))).status).to.equal(404);
    });

    it('drops a deleted image from its albums and clears it as cover (ON DELETE CASCADE / SET NULL)', async () => {
      const id = await createAlbum(alice);
      const [a, b] = [await ownedImage(app, alice.id), await ownedImage(app, alice.id)];
      await addImages(alice, id, [a, b]);
      await alice.client.post(`${manage(id)}/cover`, { image_id: a }, { csrfPage: manage(id) });
      expect(await createImagesRepo(app.db).deleteById(a)).to.equal(true);
      expect(await albumImageIds(app, id)).to.deep.equal([b]);
      expect((await albumRow(app, id))!.cover_image_id).to.equal(null);
      expect((await alice.client.get('/account/albums')).body.toString()).to.include('1 image<');
    });
  });

  describe('the share page', () => {
    it('shows public and unlisted images newest first to anyone, private ones only to the owner', async () => {
      const bob = await signedInUser(app, { username: 'bob' });
      const id = await createAlbum(alice, 'Shared <b>album</b>');
      const pub = await ownedImage(app, alice.id, 'public', 'pub.jpg');
      const priv = await ownedImage(app, alice.id, 'private', 'secret.jpg');
      const unl = await ownedImage(app, alice.id, 'unlisted', 'unl.jpg');
      await addImages(alice, id, [pub, priv, unl]);
      await alice.client.post(`${manage(id)}/cover`, { image_id: priv }, { csrfPage: manage(id) });

      for (const [who, client] of [['a guest', new WebClient(app.url)], ['another user', bob.client]] as const) {
        const res = await client.get(`/a/${id}`);
        expect(res.status, who).to.equal(200);
        expect(res.headers['x-robots-tag']).to.equal('noindex');
        const html = res.body.toString();
        expect(html).to.include('Shared &lt;b&gt;album&lt;/b&gt;').and.not.include('<b>album');
        expect(html, who).to.include('2 images').and.not.include('3 images');
        expect(html, who).not.to.include(priv).and.not.include('secret.jpg');
        expect(html.indexOf(`/i/${unl}`), 'newest first').to.be.lessThan(html.indexOf(`/i/${pub}`));
        expect(html).to.include(`href="${app.url}/i/${pub}"`).and.include(`src="${app.url}/t/${pub}.webp"`);
        // A private cover is never the link preview: the newest visible image is.
        expect(html).to.include(`<meta property="og:image" content="${app.url}/i/${unl}.jpg">`);
        expect(html).to.include('<meta name="twitter:card" content="summary_large_image">');
      }
      const own = (await alice.client.get(`/a/${id}`)).body.toString();
      expect(own).to.include('3 images').and.include(`/i/${priv}`).and.include('only you see this');
      expect(own).to.include(`content="${app.url}/i/${unl}.jpg"`);

      await alice.client.post(`${manage(id)}/cover`, { image_id: pub }, { csrfPage: manage(id) });
      const withCover = (await new WebClient(app.url).get(`/a/${id}`)).body.toString();
      expect(withCover).to.include(`<meta property="og:image" content="${app.url}/i/${pub}.jpg">`);
      expect(withCover).to.include(`<meta property="og:url" content="${app.url}/a/${id}">`);
    });

    it('answers an unknown or malformed album id with the same 404 as a missing image', async () => {
      const missingImage = await new WebClient(app.url).get(`/i/${newImageId()}`);
      for (const path of ['/a/AAAAAAAAAAAAAAAA', '/a/short', `/a/${'x'.repeat(17)}`]) {
        const res = await new WebClient(app.url).get(path);
        expect(res.status, path).to.equal(404);
        const text = (html: Buffer) => html.toString().replace(/[0-9a-f-]{36}|request id[^<]*/gi, '');
        expect(text(res.body)).to.equal(text(missingImage.body));
      }
    });

    it('shows an album with no visible images without a preview image', async () => {
      const id = await createAlbum(alice, 'Secret');
      await addImages(alice, id, [await ownedImage(app, alice.id, 'private')]);
      const html = (await new WebClient(app.url).get(`/a/${id}`)).body.toString();
      expect(html).to.include('0 images').and.include('no images to show').and.not.include('og:image');
    });
  });

  describe('ownership (IDOR)', () => {
    let bob: TestUser;
    let albumId: string;
    let aliceImages: string[];
    let bobImage: string;
    beforeEach(async () => {
      bob = await signedInUser(app, { username: 'bob' });
      albumId = await createAlbum(alice, 'Alice only');
      aliceImages = [await ownedImage(app, alice.id, 'public'), await ownedImage(app, alice.id, 'public'), await ownedImage(app, alice.id, 'public')];
      await addImages(alice, albumId, aliceImages.slice(0, 2));
      await alice.client.post(`${manage(albumId)}/cover`, { image_id: aliceImages[0]! }, { csrfPage: manage(albumId) });
      bobImage = await ownedImage(app, bob.id, 'public');
    });

    const unchanged = async () => {
      expect(await albumRow(app, albumId)).to.include({ owner_id: alice.id, title: 'Alice only', cover_image_id: aliceImages[0] });
      expect(await albumImageIds(app, albumId)).to.deep.equal(aliceImages.slice(0, 2).sort());
    };

    it('another user gets 404 for the manage page and every form, and changes nothing', async () => {
      expect((await bob.client.get(manage(albumId))).status).to.equal(404);
      expect((await bob.client.get('/account/albums')).body.toString()).not.to.include(albumId);
      const attempts: Array<[string, Array<[string, string]>]> = [
        ['rename', [['title', 'Pwned']]],
        ['delete', []],
        ['images', [['image_id', bobImage]]],
        ['images', [['image_id', aliceImages[2]!]]],
        ['images/remove', [['image_id', aliceImages[0]!]]],
        ['cover', [['image_id', aliceImages[1]!]]],
      ];
      for (const [action, fields] of attempts) {
        for (const json of [false, true]) {
          const res = await bob.client.post(`${manage(albumId)}/${action}`, fields, { csrfPage: '/account/albums', json });
          expect(res.status, `${action} json=${json}`).to.equal(404);
        }
      }
      await unchanged();
    });

    it('a guest is sent to log in (GET) or refused with 401 (POST), and changes nothing', async () => {
      const guest = new WebClient(app.url);
      const page = await guest.get(manage(albumId));
      expect(page.status).to.equal(303);
      expect(page.headers.location).to.equal('/login');
      for (const action of ['rename', 'delete', 'images', 'images/remove', 'cover']) {
        const res = await guest.post(`${manage(albumId)}/${action}`, [['image_id', aliceImages[0]!], ['title', 'x']], { csrfPage: '/login', json: true });
        expectJsonError(res, 401, 'login_required');
      }
      await unchanged();
    });

    it('the owner cannot add someone else\'s image to their own album', async () => {
      const res = await addImages(alice, albumId, [bobImage]);
      expect(res.status).to.equal(404);
      await unchanged();
      const bobAlbum = await createAlbum(bob, 'Bob');
      await addImages(bob, bobAlbum, [bobImage]);
      expect((await alice.client.post(`/account/albums/${bobAlbum}/cover`, { image_id: bobImage }, { csrfPage: '/account/albums' })).status).to.equal(404);
      expect((await alice.client.post(`/account/albums/${bobAlbum}/images/remove`, [['image_id', bobImage]], { csrfPage: '/account/albums' })).status).to.equal(404);
      expect(await albumImageIds(app, bobAlbum)).to.deep.equal([bobImage]);
    });

    it('an image that changed owner no longer shows in the old owner\'s album, on either page', async () => {
      await app.db('images').where({ id: aliceImages[1] }).update({ owner_id: bob.id });
      const share = (await new WebClient(app.url).get(`/a/${albumId}`)).body.toString();
      expect(share).to.include('1 image<').and.not.include(aliceImages[1]);
      expect((await alice.client.get(manage(albumId))).body.toString()).not.to.include(aliceImages[1]);
      expect((await alice.client.post(`${manage(albumId)}/cover`, { image_id: aliceImages[1]! }, { csrfPage: manage(albumId) })).status).to.equal(404);
    });
  });

  describe('CSRF', () => {
    it('refuses every album form without a valid token with 403, changing nothing', async () => {
      const id = await createAlbum(alice, 'Kept');
      const [a, b] = [await ownedImage(app, alice.id), await ownedImage(app, alice.id)];
      await addImages(alice, id, [a]);
      const forms: Array<[string, Array<[string, string]>]> = [
        ['/account/albums', [['title', 'New']]],
        [`${manage(id)}/rename`, [['title', 'Changed']]],
        [`${manage(id)}/delete`, []],
        [`${manage(id)}/images`, [['image_id', b]]],
        [`${manage(id)}/images/remove`, [['image_id', a]]],
        [`${manage(id)}/cover`, [['image_id', a]]],
      ];
      const bob = await signedInUser(app, { username: 'bob' });
      const bobsToken = await bob.client.csrfFrom('/account/albums');
      for (const [path, fields] of forms) {
        const missing = await alice.client.post(path, fields, { csrfPage: manage(id), csrf: false, json: true });
        expectJsonError(missing, 403, 'csrf_failed');
        const foreign = await alice.client.post(path, fields, { csrfPage: manage(id), csrf: bobsToken });
        expect(foreign.status, `${path} with another session's token`).to.equal(403);
      }
      expect(await app.db('albums')).to.have.length(1);
      expect(await albumRow(app, id)).to.include({ title: 'Kept', cover_image_id: null });
      expect(await albumImageIds(app, id)).to.deep.equal([a]);
    });
  });
});
