import { expect } from 'chai';
import { fixtures } from '../../fixtures/images.js';
import { ownerPost, ownerUpload } from '../../helpers/account-images.js';
import { signedInUser, type TestUser } from '../../helpers/accounts.js';
import { expectJsonError } from '../../helpers/assertions.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';

/** My images (issue 17 item 10): bulk visibility, bulk add to an album, and the links of every image on the list. */
describe('accounts: bulk visibility, bulk add to album and links in My images', () => {
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

  const upload = async (user: TestUser = alice): Promise<string> => {
    const res = await ownerUpload(user, png, { filename: 'original.png' });
    expect(res.status, res.body.toString()).to.equal(201);
    return res.json().id as string;
  };
  const visibilities = async (ids: string[]) => (await app.db('images').whereIn('id', ids).orderBy('id').select('id', 'visibility')).map((r: { id: string; visibility: string }) => `${r.id}:${r.visibility}`);
  const createAlbum = async (user: TestUser, title: string): Promise<string> => {
    const res = await user.client.post('/account/albums', { title });
    return /\/account\/albums\/(\w+)$/.exec(String(res.headers.location))![1]!;
  };

  it('sets one visibility on every ticked image of the owner, ignoring others’, from a form (with a notice) or JSON', async () => {
    const mine = [await upload(), await upload(), await upload()];
    const bob = await signedInUser(app);
    const his = await upload(bob);

    const form = await ownerPost(alice, '/account/images/visibility', { ids: [mine[0]!, mine[1]!, his], visibility: 'public', back: '/account/images?sort=oldest' });
    expect(form.status).to.equal(303);
    expect(form.headers.location).to.equal('/account/images?sort=oldest&done=visibility&n=2&v=public');
    const page = (await alice.client.get(String(form.headers.location))).body.toString();
    expect(page).to.include('2 images are now public');
    expect(await visibilities([...mine, his])).to.deep.equal([...[`${mine[0]}:public`, `${mine[1]}:public`, `${mine[2]}:unlisted`], `${his}:unlisted`].sort());

    expect((await ownerPost(alice, '/account/images/visibility', { ids: [mine[2]!], visibility: 'private' }, { json: true })).json()).to.deep.equal({ visibility: 'private', changed: 1 });
    expect((await rawRequest(`${app.url}/i/${mine[2]}`)).status, 'private now').to.equal(404);
    expectJsonError(await ownerPost(alice, '/account/images/visibility', { ids: [mine[0]!], visibility: 'everyone' }, { json: true }), 400, 'bad_visibility');
    expectJsonError(await ownerPost(alice, '/account/images/visibility', { visibility: 'public' }, { json: true }), 400, 'none_selected');
    expect((await ownerPost(alice, '/account/images/visibility', { ids: [mine[0]!], visibility: 'private' }, { json: true, csrf: false })).status, 'CSRF').to.equal(403);
    expect(await visibilities([mine[0]!])).to.deep.equal([`${mine[0]}:public`]);
  });

  it('takes 500 ticked images at once (more form fields than other forms allow)', async () => {
    const id = await upload();
    const ids = [id, ...Array.from({ length: 499 }, (_, i) => `Z${String(i).padStart(11, '0')}`)];
    expect((await ownerPost(alice, '/account/images/visibility', { ids, visibility: 'private' }, { json: true })).json()).to.deep.equal({ visibility: 'private', changed: 1 });
  });

  it('adds ticked images to one of the owner’s albums; another account’s album or image is a 404 and adds nothing', async () => {
    const mine = [await upload(), await upload()];
    const album = await createAlbum(alice, 'Trip');
    const res = await ownerPost(alice, '/account/images/album', { ids: mine, album, back: '/account/images' });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/account/images?done=album&n=2');
    expect((await alice.client.get(String(res.headers.location))).body.toString()).to.include('All 2 images are in the album now.');
    expect((await app.db('album_images').where({ album_id: album }).pluck('image_id')).sort()).to.deep.equal([...mine].sort());

    const bob = await signedInUser(app);
    const bobsAlbum = await createAlbum(bob, 'Bob’s');
    const his = await upload(bob);
    expectJsonError(await ownerPost(alice, '/account/images/album', { ids: mine, album: bobsAlbum }, { json: true }), 404, 'not_found');
    expectJsonError(await ownerPost(alice, '/account/images/album', { ids: [mine[0]!, his], album }, { json: true }), 404, 'not_found');
    expect(await app.db('album_images').where({ album_id: bobsAlbum })).to.deep.equal([]);
    expect((await app.db('album_images').where({ album_id: album })).length, 'nothing more added').to.equal(2);
  });

  it('the list offers each image’s links (share page, direct, Markdown, BBCode), the album choice and the bulk visibility choice', async () => {
    const id = await upload();
    await createAlbum(alice, 'Holidays <2026>');
    const page = (await alice.client.get('/account/images')).body.toString();
    expect(page).to.include(`id="share-link-${id}"`).and.include(`value="${app.url}/i/${id}"`);
    expect(page).to.include(`id="direct-link-${id}"`).and.include(`id="markdown-${id}"`).and.include(`id="bbcode-${id}"`);
    expect(page).to.include('[url=').and.include(`[img]${app.url}/i/${id}.png[/img]`);
    expect(page).to.include('Holidays &lt;2026&gt;');
    expect(page).to.include('formaction="/account/images/visibility"').and.include('formaction="/account/images/album"');
  });
});
