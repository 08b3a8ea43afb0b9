import { expect } from 'chai';
import sharp from 'sharp';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { rawRequest, upload, type RawResponse } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';
import { createDb } from '../../db/knex.js';

type Uploaded = { id: string; url: string; pageUrl: string; thumbnailUrl: string };
const NO_DISPLAY = { display_size: null, display_width: null, display_height: null, display_sha256: null };

describe('oEmbed (GET /oembed)', function () {
  this.timeout(60_000);
  let app: TestApp;
  beforeEach(async () => {
    // 640×480 uploads get a 300×225 display variant and a 400×300 thumbnail.
    app = await startTestApp({ DISPLAY_MAX_PX: '300', THUMBNAIL_SIZE: '400' });
  });
  afterEach(() => app.close());

  const oembed = (params: Record<string, string> | string, headers: Record<string, string> = {}): Promise<RawResponse> => {
    const query = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return rawRequest(`${app.url}/oembed?${query}`, { headers });
  };
  const guestImage = async (width = 640, height = 480): Promise<Uploaded> => (await upload(app.url, { bytes: await fixtures.png(width, height), filename: 'holiday.png' })).json();
  const ownedImage = async (owner: TestUser, visibility: 'public' | 'unlisted' | 'private'): Promise<Uploaded> => {
    const res = await ownerUpload(owner, await fixtures.png(640, 480), { filename: 'mine.png' });
    expect(res.status, res.body.toString()).to.equal(201);
    const image = res.json() as Uploaded;
    await app.db('images').where({ id: image.id }).update({ visibility });
    return image;
  };
  const expectJsonError = (res: RawResponse, status: number, code: string) => {
    expect(res.status, res.body.toString()).to.equal(status);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    expect(res.headers['access-control-allow-origin']).to.equal('*');
    expect(res.headers['cache-control']).to.equal('no-store');
    const body = res.json();
    expect(body.error.code).to.equal(code);
    expect(body.error.message).to.be.a('string').and.not.equal('');
    return body.error.message as string;
  };

  it('answers a photo for a public share page: the display variant, the thumbnail and the provider', async () => {
    const image = await guestImage();
    const row = await app.db('images').where({ id: image.id }).first();
    const res = await oembed({ url: image.pageUrl, format: 'json' }, { Accept: 'text/html' });
    expect(res.status, res.body.toString()).to.equal(200);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    expect(res.headers['access-control-allow-origin']).to.equal('*');
    expect(res.headers['cache-control']).to.equal('public, max-age=300');
    expect(res.headers['set-cookie'], 'no cookie').to.equal(undefined);
    expect(res.json()).to.deep.equal({
      version: '1.0',
      type: 'photo',
      url: `${app.url}/d/${image.id}.webp`,
      width: 300,
      height: 225,
      title: 'holiday.png',
      provider_name: 'Pixbin',
      provider_url: `${app.url}/`,
      thumbnail_url: `${app.url}/t/${image.id}.webp`,
      thumbnail_width: row.thumb_width,
      thumbnail_height: row.thumb_height,
      cache_age: 3600,
    });
    expect(row).to.include({ thumb_width: 400, thumb_height: 300 });
    // The owner's title wins over the file name; format defaults to json.
    await app.db('images').where({ id: image.id }).update({ title: 'Beach at dusk' });
    expect((await oembed({ url: image.pageUrl })).json().title).to.equal('Beach at dusk');
    // Both URLs are images Pixbin serves.
    const photo = await rawRequest(res.json().url);
    expect(photo.status).to.equal(200);
    expect(await sharp(photo.body).metadata()).to.include({ format: 'webp', width: 300, height: 225 });
    expect((await rawRequest(res.json().thumbnail_url)).status).to.equal(200);
  });

  it('scales width and height down proportionally to fit maxwidth and maxheight, never up; the URL stays the display variant', async () => {
    const image = await guestImage();
    const sized = async (max: Record<string, string>) => {
      const body = (await oembed({ url: image.pageUrl, ...max })).json();
      expect(body.url).to.equal(`${app.url}/d/${image.id}.webp`);
      return [body.width, body.height, body.thumbnail_width, body.thumbnail_height];
    };
    expect(await sized({ maxwidth: '150' })).to.deep.equal([150, 113, 150, 113]);
    expect(await sized({ maxheight: '100' })).to.deep.equal([133, 100, 133, 100]);
    expect(await sized({ maxwidth: '200', maxheight: '100' })).to.deep.equal([133, 100, 133, 100]);
    expect(await sized({ maxwidth: '100', maxheight: '300' })).to.deep.equal([100, 75, 100, 75]);
    expect(await sized({ maxwidth: '5000', maxheight: '5000' })).to.deep.equal([300, 225, 400, 300]);
    expect(await sized({ maxwidth: '300', maxheight: '225' })).to.deep.equal([300, 225, 300, 225]);
    expect(await sized({ maxwidth: '1', maxheight: '1' })).to.deep.equal([1, 1, 1, 1]);
  });

  it('without a display variant yet, uses the largest picture that fits: the original, else the thumbnail', async () => {
    const image = await guestImage();
    await app.db('images').where({ id: image.id }).update(NO_DISPLAY);
    const picture = async (max: Record<string, string>) => {
      const body = (await oembed({ url: image.pageUrl, ...max })).json();
      return [body.url, body.width, body.height];
    };
    expect(await picture({})).to.deep.equal([`${app.url}/i/${image.id}.png`, 640, 480]);
    expect(await picture({ maxwidth: '640', maxheight: '480' })).to.deep.equal([`${app.url}/i/${image.id}.png`, 640, 480]);
    expect(await picture({ maxwidth: '500' })).to.deep.equal([`${app.url}/t/${image.id}.webp`, 400, 300]);
    expect(await picture({ maxheight: '479' })).to.deep.equal([`${app.url}/t/${image.id}.webp`, 400, 300]);
    // Not even the thumbnail fits: its numbers are scaled down.
    expect(await picture({ maxwidth: '200' })).to.deep.equal([`${app.url}/t/${image.id}.webp`, 200, 150]);
    for (const url of [`${app.url}/i/${image.id}.png`, `${app.url}/t/${image.id}.webp`]) expect((await rawRequest(url)).status, url).to.equal(200);
  });

  it('answers for an unlisted image (its link is the secret); private, hidden, sensitive, missing and deleted images are 404, even to their owner', async () => {
    const alice = await signedInUser(app);
    const unlisted = await ownedImage(alice, 'unlisted');
    const res = await oembed({ url: unlisted.pageUrl });
    expect(res.status).to.equal(200);
    expect(res.json()).to.include({ type: 'photo', url: `${app.url}/d/${unlisted.id}.webp` });
    expect(res.json(), 'no author for an unlisted image').not.to.have.any.keys('author_name', 'author_url');

    const priv = await ownedImage(alice, 'private');
    expectJsonError(await oembed({ url: priv.pageUrl }), 404, 'not_found');
    // Read as nobody: the owner's own session does not make their private image embeddable.
    const asOwner = await alice.client.request(`/oembed?url=${encodeURIComponent(priv.pageUrl)}`);
    expect(asOwner.status).to.equal(404);
    expect(asOwner.headers['content-type']).to.match(/^application\/json/);

    const cases: Array<[string, Record<string, unknown>]> = [
      ['hidden', { moderation_state: 'hidden', moderation_reason: 'spam' }],
      ['sensitive', { moderation_state: 'sensitive', moderation_reason: 'nsfw' }],
      ['missing', { missing_since: new Date() }],
    ];
    for (const [what, change] of cases) {
      const image = await guestImage();
      expect((await oembed({ url: image.pageUrl })).status, `${what} before`).to.equal(200);
      await app.db('images').where({ id: image.id }).update(change);
      expectJsonError(await oembed({ url: image.pageUrl }), 404, 'not_found');
    }
    const deleted = await guestImage();
    await app.db('images').where({ id: deleted.id }).delete();
    expectJsonError(await oembed({ url: deleted.pageUrl }), 404, 'not_found');
    expectJsonError(await oembed({ url: `${app.url}/i/AAAAAAAAAAAA` }), 404, 'not_found');
  });

  it('answers 404 for any address that is not exactly a share page of this instance', async () => {
    const image = await guestImage();
    const other = new URL(app.url);
    other.port = String(Number(other.port) + 1);
    const foreign = [
      `http://example.com/i/${image.id}`,
      `${other.origin}/i/${image.id}`,
      `https://${new URL(app.url).host}/i/${image.id}`,
      `${app.url}/i/${image.id}.png`,
      `${app.url}/i/${image.id}/`,
      `${app.url}/i/${image.id}?utm=x`,
      `${app.url}/i/${image.id}?`,
      `${app.url}/i/${image.id}#top`,
      `${app.url}/t/${image.id}.webp`,
      `${app.url}/d/${image.id}.webp`,
      `${app.url}/i/${image.id.slice(1)}`,
      `${app.url}/x/../i/${image.id}x`,
      `http://user:pw@${new URL(app.url).host}/i/${image.id}`,
      `${app.url}/`,
      `/i/${image.id}`,
      image.id,
      'not a url',
      'javascript:alert(1)',
    ];
    for (const url of foreign) expect((await oembed({ url })).status, url).to.equal(404);
    // What URL() normalises is the same address: host case and a dot segment.
    const host = new URL(app.url).host;
    expect((await oembed({ url: `HTTP://${host.toUpperCase()}/i/${image.id}` })).status).to.equal(200);
    expect((await oembed({ url: `${app.url}/x/../i/${image.id}` })).status).to.equal(200);
  });

  it('answers 501 for format=xml or any other format, and 400 with a clear message for malformed parameters', async () => {
    const image = await guestImage();
    for (const format of ['xml', 'XML', 'yaml', '', 'json,xml']) {
      const message = expectJsonError(await oembed({ url: image.pageUrl, format }), 501, 'format_not_implemented');
      expect(message).to.include('json');
    }
    expect((await oembed({ url: image.pageUrl, format: 'json' })).status).to.equal(200);
    for (const value of ['0', '-5', '1.5', 'abc', '', ' 100', '100px', '1e3', '0x10', '0100', '9999999999']) {
      for (const name of ['maxwidth', 'maxheight']) {
        const message = expectJsonError(await oembed({ url: image.pageUrl, [name]: value }), 400, 'bad_request');
        expect(message, `${name}=${value}`).to.include(name);
      }
    }
    expect(expectJsonError(await oembed(`url=${encodeURIComponent(image.pageUrl)}&maxwidth=100&maxwidth=200`), 400, 'bad_request')).to.include('maxwidth');
    expect(expectJsonError(await oembed(`url=${encodeURIComponent(image.pageUrl)}&url=${encodeURIComponent(image.pageUrl)}`), 400, 'bad_request')).to.include('url');
    expect(expectJsonError(await oembed(''), 400, 'bad_request')).to.include('url');
    expect(expectJsonError(await oembed('url='), 400, 'bad_request')).to.include('url');
    expect(expectJsonError(await oembed(`url[a]=${encodeURIComponent(image.pageUrl)}`), 400, 'bad_request')).to.include('url');
  });

  it('names the author only for public images of accounts with a public profile', async () => {
    const alice = await signedInUser(app);
    const image = await ownedImage(alice, 'public');
    const body = (await oembed({ url: image.pageUrl })).json();
    expect(body).to.include({ author_name: alice.username, author_url: `${app.url}/u/${alice.username}` });
    expect((await rawRequest(body.author_url, { headers: { Accept: 'text/html' } })).status, 'the profile is there').to.equal(200);

    const guest = await guestImage();
    expect((await oembed({ url: guest.pageUrl })).json()).not.to.have.any.keys('author_name', 'author_url');

    await app.db('users').where({ id: alice.id }).update({ suspended_at: new Date() });
    expect((await rawRequest(body.author_url, { headers: { Accept: 'text/html' } })).status, 'no profile').to.equal(404);
    expect((await oembed({ url: image.pageUrl })).json()).not.to.have.any.keys('author_name', 'author_url');

    const bob = await signedInUser(app);
    const bobs = await ownedImage(bob, 'public');
    expect((await oembed({ url: bobs.pageUrl })).json()).to.include({ author_name: bob.username });
    await app.db('users').where({ id: bob.id }).update({ deletion_requested_at: new Date() });
    expect((await oembed({ url: bobs.pageUrl })).json()).not.to.have.any.keys('author_name', 'author_url');
  });

  it('answers JSON when the database does not answer, as for every other error: 503 with Retry-After, not an HTML page', async () => {
    const image = await guestImage();
    // A second app whose database handle points at a port where no PostgreSQL listens: every query is refused.
    const dead = createDb({ databaseUrl: 'postgres://postgres@127.0.0.1:9/pixbin_nowhere', dataDir: app.config.dataDir });
    const down = await startTestApp({}, { db: dead });
    try {
      const res = await rawRequest(`${down.url}/oembed?${new URLSearchParams({ url: image.pageUrl.replace(app.url, down.url) })}`, { headers: { Accept: 'text/html,*/*' } });
      expect(res.status, res.body.toString()).to.equal(503);
      expect(res.headers['content-type'], res.body.toString()).to.match(/^application\/json/);
      expect(res.headers['retry-after']).to.match(/^\d+$/);
      expect(res.json().error.code).to.equal('database_unavailable');
    } finally {
      await down.close();
      await dead.destroy();
    }
  });

  it('share pages carry the discovery link, only for images /oembed answers for', async () => {
    const discovery = (html: string) => {
      const head = html.slice(0, html.indexOf('</head>'));
      const links = [...head.matchAll(/<link rel="alternate" type="application\/json\+oembed" href="([^"]+)" title="([^"]*)">/g)];
      return links.map((m) => m[1]!.replaceAll('&amp;', '&'));
    };
    const image = await guestImage();
    const page = await rawRequest(image.pageUrl, { headers: { Accept: 'text/html' } });
    const hrefs = discovery(page.body.toString());
    expect(hrefs).to.deep.equal([`${app.url}/oembed?url=${encodeURIComponent(image.pageUrl)}&format=json`]);
    const answer = await rawRequest(hrefs[0]!);
    expect(answer.status).to.equal(200);
    expect(answer.json()).to.include({ type: 'photo', url: `${app.url}/d/${image.id}.webp` });

    const alice = await signedInUser(app);
    const unlisted = await ownedImage(alice, 'unlisted');
    expect(discovery((await alice.client.get(`/i/${unlisted.id}`)).body.toString())).to.have.length(1);
    const priv = await ownedImage(alice, 'private');
    const ownView = await alice.client.get(`/i/${priv.id}`);
    expect(ownView.status, 'the owner sees the page').to.equal(200);
    expect(discovery(ownView.body.toString())).to.deep.equal([]);
    expect(ownView.body.toString()).not.to.include('json+oembed');
    const sensitive = await guestImage();
    await app.db('images').where({ id: sensitive.id }).update({ moderation_state: 'sensitive', moderation_reason: 'nsfw' });
    const sensitivePage = await rawRequest(sensitive.pageUrl, { headers: { Accept: 'text/html' } });
    expect(sensitivePage.status).to.equal(200);
    expect(sensitivePage.body.toString()).not.to.include('json+oembed');
  });
});
