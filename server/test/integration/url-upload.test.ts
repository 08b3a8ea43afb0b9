import { expect } from 'chai';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtures, MARKERS } from '../fixtures/images.js';
import { expectJsonError, expectNothingLeft, until, waitForEmptyTemp } from '../helpers/assertions.js';
import { csrfOf } from '../helpers/account-images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { api, apiKeyFor } from '../helpers/api.js';
import { startFakeTurnstile, type FakeTurnstile } from '../helpers/fake-turnstile.js';
import { multipart, rawRequest, upload, type Part, type RawResponse } from '../helpers/http.js';
import { listFiles, startTestApp, type TestApp } from '../helpers/test-app.js';
import { createRepos } from '../../db/repos.js';
import { accountData } from '../../services/export.service.js';
import { createRateLimits } from '../../services/rate-limits.service.js';

/**
 * Upload by URL against a real loopback "remote" server. The outbound guard refuses loopback unless OUTBOUND_ALLOW
 * lists it, so these apps allow 127.0.0.1 only; 127.0.0.2 and the metadata address stay refused. OUTBOUND_ALLOW opens
 * private addresses to signed-in accounts only (a guest's link reaches public addresses), so the fetches that must
 * reach the remote are made by an account; guests are shown to be refused it.
 */
const MAX_BYTES = 400_000;
const IDLE_MS = 1500; // generous: a healthy loopback answer must never look idle on a busy machine

type Remote = { url: string; hits: string[]; close: () => Promise<void> };

async function startRemote(): Promise<Remote> {
  const png = await fixtures.png();
  const jpeg = await fixtures.jpegWithGps();
  const hits: string[] = [];
  const open = new Set<ServerResponse>();
  let base = '';
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/photo.png': (_req, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length }).end(png),
    // The remote's Content-Type lies: the type comes from the bytes.
    '/gps.jpg': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': jpeg.length }).end(jpeg),
    '/chunked.png': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.write(png.subarray(0, 100));
      res.end(png.subarray(100));
    },
    '/big-declared': (_req, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': MAX_BYTES + 1 }).end(Buffer.alloc(MAX_BYTES + 1)),
    '/big-chunked': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      let sent = 0;
      const more = () => {
        while (sent <= MAX_BYTES * 2) {
          sent += 16_384;
          if (!res.write(Buffer.concat([png.subarray(0, 16_384), Buffer.alloc(Math.max(0, 16_384 - png.length))]))) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    },
    '/page.html': (_req, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end('<!doctype html><html><body>not an image</body></html>'),
    '/missing.png': (_req, res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no'),
    '/stall-body': (_req, res) => {
      open.add(res);
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length });
      res.write(png.subarray(0, 64)); // then nothing more
    },
    '/stall-head': (_req, res) => {
      open.add(res); // never answers
    },
    '/to-loopback': (_req, res) => res.writeHead(302, { Location: base.replace('127.0.0.1', '127.0.0.2') + '/photo.png' }).end(),
    '/to-metadata': (_req, res) => res.writeHead(302, { Location: 'http://169.254.169.254/latest/meta-data/' }).end(),
    '/to-ftp': (_req, res) => res.writeHead(302, { Location: 'ftp://127.0.0.1/photo.png' }).end(),
    '/to-file': (_req, res) => res.writeHead(301, { Location: 'file:///etc/passwd' }).end(),
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push(path);
    // /hops/N redirects N more times, then serves the image.
    const hops = /^\/hops\/(\d+)$/.exec(path);
    if (hops) {
      const n = Number(hops[1]);
      res.writeHead(n === 0 ? 303 : 302, { Location: n === 0 ? '/photo.png' : `/hops/${n - 1}` }).end();
      return;
    }
    const route = routes[path];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A web form post to /upload with the given fields (multipart, as the home page sends it). */
function formPost(app: TestApp, parts: Part[], options: { json?: boolean; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const { body, contentType } = multipart(parts);
  return rawRequest(`${app.url}/upload`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: options.json === false ? 'text/html' : 'application/json', ...options.headers },
    body,
  });
}

/** The same form post by a signed-in account, from its own pages (the CSRF token first). */
async function accountPost(user: TestUser, parts: Part[], options: { json?: boolean } = {}): Promise<RawResponse> {
  const { body, contentType } = multipart([{ name: '_csrf', value: await csrfOf(user) }, ...parts]);
  return user.client.request('/upload', {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: options.json === false ? 'text/html' : 'application/json' },
    body,
  });
}

const fetchBytes = async (url: string): Promise<Buffer> => Buffer.from(await (await fetch(url)).arrayBuffer());
const imageCount = async (app: TestApp): Promise<number> => Number((await app.db('images').count({ n: '*' }))[0]!.n);

describe('upload by URL', () => {
  let remote: Remote;
  let app: TestApp;
  before(async () => {
    remote = await startRemote();
  });
  after(() => remote.close());
  beforeEach(async () => {
    remote.hits.length = 0;
    app = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1', MAX_UPLOAD_BYTES: String(MAX_BYTES), UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS) });
  });
  afterEach(() => app.close());

  describe('the web form', () => {
    it('uploads an account’s image from a link and redirects to the result page like a file, keeping no link', async () => {
      const alice = await signedInUser(app);
      const res = await accountPost(alice, [{ name: 'url', value: `${remote.url}/photo.png` }], { json: false });
      expect(res.status, res.body.toString()).to.equal(303);
      const id = /\/upload\/([0-9A-Za-z]{12})$/.exec(String(res.headers.location))?.[1];
      expect(id, String(res.headers.location)).to.be.a('string');
      const row = await app.db('images').where({ id }).first();
      expect(row).to.include({ mime: 'image/png', source_url: null, original_name: 'photo.png', owner_id: alice.id });
      expect(remote.hits).to.deep.equal(['/photo.png']);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
      // The share page shows no source when none was kept.
      const page = await rawRequest(`${app.url}/i/${id}`);
      expect(page.status).to.equal(200);
      expect(page.body.toString()).not.to.include('id="source-link"');
      expect(page.body.toString()).not.to.include(remote.url);
    });

    it('keeps the link when asked, and shows it as a nofollow Source link', async () => {
      const res = await accountPost(await signedInUser(app), [
        { name: 'url', value: `${remote.url}/photo.png#frag` },
        { name: 'keep_source', value: '1' },
      ]);
      expect(res.status, res.body.toString()).to.equal(201);
      const body = res.json();
      const row = await app.db('images').where({ id: body.id }).first();
      expect(row.source_url).to.equal(`${remote.url}/photo.png`);
      const page = (await rawRequest(`${app.url}/i/${body.id}`)).body.toString();
      expect(page).to.match(new RegExp(`<a id="source-link" href="${remote.url}/photo.png" rel="nofollow noopener noreferrer ugc">`));
      expect(page).to.match(/<dt>Source<\/dt>/);
    });

    it('strips metadata from what it fetched, sniffing the type from the bytes whatever the remote says', async () => {
      const res = await accountPost(await signedInUser(app), [{ name: 'url', value: `${remote.url}/gps.jpg` }]);
      expect(res.status, res.body.toString()).to.equal(201);
      expect(res.json().mime).to.equal('image/jpeg');
      const served = (await fetchBytes(res.json().url)).toString('latin1');
      for (const marker of [MARKERS.make, MARKERS.xmp, MARKERS.jpegComment]) expect(served, marker).not.to.include(marker);
      expect(served).not.to.include('GPS');
    });

    it('takes a chunked answer with no Content-Length', async () => {
      const res = await accountPost(await signedInUser(app), [{ name: 'url', value: `${remote.url}/chunked.png` }]);
      expect(res.status, res.body.toString()).to.equal(201);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
    });

    it('answers 400 file_and_url when both a file and a link are sent, in either order, and stores nothing', async () => {
      const png = await fixtures.png();
      for (const parts of [
        [{ name: 'url', value: `${remote.url}/photo.png` }, { name: 'file', value: png, filename: 'a.png', contentType: 'image/png' }],
        [{ name: 'file', value: png, filename: 'a.png', contentType: 'image/png' }, { name: 'url', value: `${remote.url}/photo.png` }],
      ]) {
        expectJsonError(await formPost(app, parts), 400, 'file_and_url');
      }
      expect(remote.hits, 'nothing fetched').to.deep.equal([]);
      await expectNothingLeft(app);
    });

    it('answers 400 no_file when neither is sent; an empty file part from a browser counts as none', async () => {
      expect(expectJsonError(await formPost(app, [{ name: 'url', value: '  ' }]), 400, 'no_file')).to.match(/paste a link/);
      const browserLike = await accountPost(await signedInUser(app), [
        { name: 'file', value: Buffer.alloc(0), filename: '', contentType: 'application/octet-stream' },
        { name: 'url', value: `${remote.url}/photo.png` },
      ]);
      expect(browserLike.status, browserLike.body.toString()).to.equal(201);
    });

    it('reaches public addresses only for a guest: a host OUTBOUND_ALLOW lists is refused before connecting, and nothing is left', async () => {
      for (const link of [`${remote.url}/photo.png`, 'http://127.0.0.1:9/photo.png']) {
        const detail = expectJsonError(await formPost(app, [{ name: 'url', value: link }]), 422, 'url_not_allowed');
        expect(detail).to.match(/public address/).and.not.to.match(/OUTBOUND_ALLOW|127\.0\.0\.1/);
      }
      const page = await formPost(app, [{ name: 'url', value: `${remote.url}/photo.png` }], { json: false });
      expect(page.status).to.equal(422);
      expect(page.body.toString()).to.include('must lead to a public address');
      expect(remote.hits, 'the guest’s link was never fetched').to.deep.equal([]);
      await expectNothingLeft(app);
      // The same link from an account, for which the operator opened it, is fetched.
      const ok = await accountPost(await signedInUser(app), [{ name: 'url', value: `${remote.url}/photo.png` }]);
      expect(ok.status, ok.body.toString()).to.equal(201);
      expect(remote.hits).to.deep.equal(['/photo.png']);
    });

    it('lets a signed-in account upload by link only with its CSRF token, into its own images', async () => {
      const alice = await signedInUser(app);
      const send = async (csrf: string | null) => {
        const { body, contentType } = multipart([...(csrf ? [{ name: '_csrf', value: csrf }] : []), { name: 'url', value: `${remote.url}/photo.png` }]);
        return alice.client.request('/upload', { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' }, body });
      };
      expectJsonError(await send(null), 403, 'csrf_failed');
      expect(remote.hits, 'nothing fetched without the token').to.deep.equal([]);
      const ok = await send(await csrfOf(alice));
      expect(ok.status, ok.body.toString()).to.equal(201);
      expect((await app.db('images').where({ id: ok.json().id }).first()).owner_id).to.equal(alice.id);
    });
  });

  describe('refusals (web form and API alike)', () => {
    const refusals: Array<[string, string | (() => string), number, string, RegExp]> = [
      ['a link that is not http(s)', 'ftp://127.0.0.1/photo.png', 400, 'bad_url', /http:\/\/ or https:\/\//],
      ['a malformed link', 'not a link', 400, 'bad_url', /full link/],
      ['a link with a user:password part', () => remote.url.replace('http://', 'http://user:secret@') + '/photo.png', 400, 'bad_url', /user name or password/],
      ['a redirect to a loopback address not listed', () => `${remote.url}/to-loopback`, 422, 'url_not_allowed', /private or local address.*OUTBOUND_ALLOW/],
      ['a redirect to the cloud metadata address', () => `${remote.url}/to-metadata`, 422, 'url_not_allowed', /OUTBOUND_ALLOW/],
      ['a fourth redirect', () => `${remote.url}/hops/3`, 422, 'url_redirect_refused', /more than 3 times/],
      ['a redirect to an ftp: link', () => `${remote.url}/to-ftp`, 422, 'url_redirect_refused', /redirected .* to a place that cannot be followed/],
      ['a redirect to a file: link', () => `${remote.url}/to-file`, 422, 'url_redirect_refused', /redirected .* to a place that cannot be followed/],
      ['a remote 404', () => `${remote.url}/missing.png`, 422, 'url_fetch_failed', /HTTP 404/],
      ['a remote that is not listening', 'http://127.0.0.1:9/photo.png', 422, 'url_fetch_failed', /could not be reached/],
      ['a declared size over the limit', () => `${remote.url}/big-declared`, 413, 'file_too_large', /larger than the .+ limit/],
      ['a chunked body over the limit', () => `${remote.url}/big-chunked`, 413, 'file_too_large', /larger than the .+ limit/],
      ['a remote that stalls mid-body', () => `${remote.url}/stall-body`, 422, 'url_timeout', /took too long/],
      ['a remote that never answers', () => `${remote.url}/stall-head`, 422, 'url_timeout', /took too long/],
    ];
    for (const [label, link, status, code, message] of refusals) {
      it(`refuses ${label}: ${status} ${code}, leaving nothing behind`, async () => {
        const url = typeof link === 'string' ? link : link();
        const alice = await signedInUser(app);
        expect(expectJsonError(await accountPost(alice, [{ name: 'url', value: url }]), status, code)).to.match(message);
        const { key } = await apiKeyFor(app, alice);
        const answer = await api(app, 'POST', '/api/v1/images', { key, json: { url } });
        expect(answer.status, answer.text).to.equal(status);
        expect(answer.json).to.include({ code, status });
        expect(answer.json.detail).to.match(message);
        expect(answer.text).not.to.match(/127\.0\.0\.2|169\.254|ECONNREFUSED|at .*\.ts:\d+/);
        await expectNothingLeft(app);
      });
    }

    it('follows three redirects', async () => {
      const res = await accountPost(await signedInUser(app), [{ name: 'url', value: `${remote.url}/hops/2` }]);
      expect(res.status, res.body.toString()).to.equal(201);
      expect(remote.hits).to.deep.equal(['/hops/2', '/hops/1', '/hops/0', '/photo.png']);
    });

    it('answers a link to something that is not an image exactly as it answers that file', async () => {
      const page = Buffer.from('<!doctype html><html><body>not an image</body></html>');
      const asFile = await upload(app.url, { bytes: page, filename: 'page.png', contentType: 'image/png' });
      const asLink = await accountPost(await signedInUser(app), [{ name: 'url', value: `${remote.url}/page.html` }]);
      expect(asLink.status).to.equal(asFile.status).and.to.be.within(400, 499);
      expect(asLink.json().error).to.deep.equal(asFile.json().error);
      await expectNothingLeft(app);
    });

    it('refuses loopback when OUTBOUND_ALLOW is empty, before connecting', async () => {
      const closed = await startTestApp({ MAX_UPLOAD_BYTES: String(MAX_BYTES) });
      try {
        const res = await accountPost(await signedInUser(closed), [{ name: 'url', value: `${remote.url}/photo.png` }]);
        expect(expectJsonError(res, 422, 'url_not_allowed')).to.match(/OUTBOUND_ALLOW/);
        expect(remote.hits).to.deep.equal([]);
        await expectNothingLeft(closed);
      } finally {
        await closed.close();
      }
    });
  });

  describe('the API', () => {
    it('takes a JSON body with visibility and keep_source, and returns source_url', async () => {
      const alice = await signedInUser(app);
      const { key } = await apiKeyFor(app, alice);
      const res = await api(app, 'POST', '/api/v1/images', { key, json: { url: `${remote.url}/photo.png`, visibility: 'private', keep_source: true } });
      expect(res.status, res.text).to.equal(201);
      expect(res.json).to.include({ visibility: 'private', source_url: `${remote.url}/photo.png`, mime: 'image/png' });
      expect(res.json.delete_url).to.be.a('string');
      const read = await api(app, 'GET', `/api/v1/images/${res.json.id}`, { key });
      expect(read.json.source_url).to.equal(`${remote.url}/photo.png`);
      // The account export carries it too (it exports every column of the account's images).
      const exported = (await accountData(createRepos(app.db), alice.id)).images as Array<Record<string, unknown>>;
      expect(exported.map((i) => i.source_url)).to.deep.equal([`${remote.url}/photo.png`]);
      expect(await waitForEmptyTemp(app)).to.deep.equal([]);
    });

    it('takes url in multipart fields, and keeps no link unless asked', async () => {
      const alice = await signedInUser(app);
      const { key } = await apiKeyFor(app, alice);
      const form = new FormData();
      form.append('url', `${remote.url}/photo.png`);
      const res = await api(app, 'POST', '/api/v1/images', { key, form });
      expect(res.status, res.text).to.equal(201);
      expect(res.json.source_url).to.equal(null);
      expect((await app.db('images').where({ id: res.json.id }).first()).source_url).to.equal(null);

      const kept = new FormData();
      kept.append('url', `${remote.url}/photo.png`);
      kept.append('keep_source', 'true');
      expect((await api(app, 'POST', '/api/v1/images', { key, form: kept })).json.source_url).to.equal(`${remote.url}/photo.png`);
    });

    it('answers 400 file_and_url for both, 400 no_file for neither, and 400 for a bad keep_source', async () => {
      const alice = await signedInUser(app);
      const { key } = await apiKeyFor(app, alice);
      const both = new FormData();
      both.append('url', `${remote.url}/photo.png`);
      both.append('file', new Blob([new Uint8Array(await fixtures.png())], { type: 'image/png' }), 'a.png');
      const res = await api(app, 'POST', '/api/v1/images', { key, form: both });
      expect(res.status, res.text).to.equal(400);
      expect(res.json.code).to.equal('file_and_url');
      const neither = await api(app, 'POST', '/api/v1/images', { key, json: { visibility: 'public' } });
      expect(neither.status).to.equal(400);
      expect(neither.json.code).to.equal('no_file');
      const bad = await api(app, 'POST', '/api/v1/images', { key, json: { url: `${remote.url}/photo.png`, keep_source: 'maybe' } });
      expect(bad.status).to.equal(400);
      expect(bad.json).to.include({ code: 'invalid_field', field: 'keep_source' });
      expect(remote.hits).to.deep.equal([]);
      await expectNothingLeft(app);
    });

    it('documents url and keep_source, and source_url in the image object', async () => {
      const doc = (await api(app, 'GET', '/api/v1/openapi.json')).json;
      const upload = doc.paths['/api/v1/images'].post;
      const fields = upload.requestBody.content['multipart/form-data'].schema.properties;
      expect(fields).to.have.keys('title', 'visibility', 'album', 'url', 'keep_source', 'file');
      expect(fields.keep_source.type).to.equal('boolean');
      expect(upload.description).to.match(/application\/json/).and.to.match(/url_not_allowed/);
      expect(doc.components.schemas.Image.properties).to.have.property('source_url');
    });
  });

  describe('gates before anything is fetched', () => {
    it('counts a URL upload against the same upload rate limit', async () => {
      const limited = await startTestApp(
        { OUTBOUND_ALLOW: '127.0.0.1' },
        { rateLimits: (repos) => createRateLimits(repos, { uploadPerAccount: { points: 2 } }) },
      );
      try {
        const alice = await signedInUser(limited);
        expect((await accountPost(alice, [{ name: 'file', value: await fixtures.png(), filename: 'a.png', contentType: 'image/png' }])).status).to.equal(201);
        expect((await accountPost(alice, [{ name: 'url', value: `${remote.url}/photo.png` }])).status).to.equal(201);
        remote.hits.length = 0;
        expectJsonError(await accountPost(alice, [{ name: 'url', value: `${remote.url}/photo.png` }]), 429, 'rate_limited');
        expect(remote.hits, 'nothing fetched once limited').to.deep.equal([]);
        expect(await imageCount(limited)).to.equal(2);
      } finally {
        await limited.close();
      }
    });

    describe('behind Turnstile', () => {
      let fake: FakeTurnstile;
      let guarded: TestApp;
      before(async () => {
        fake = await startFakeTurnstile();
      });
      after(() => fake.close());
      beforeEach(async () => {
        guarded = await startTestApp({
          OUTBOUND_ALLOW: '127.0.0.1',
          TURNSTILE_SITE_KEY: '0x4AAAAAAAtestsitekey',
          TURNSTILE_SECRET_KEY: fake.secret,
          TURNSTILE_VERIFY_URL: fake.verifyUrl,
        });
      });
      afterEach(() => guarded.close());

      it('refuses a guest without a token, and fetches nothing', async () => {
        expectJsonError(await formPost(guarded, [{ name: 'url', value: `${remote.url}/photo.png` }]), 400, 'turnstile_missing');
        expectJsonError(await formPost(guarded, [{ name: 'url', value: `${remote.url}/photo.png` }, { name: 'cf-turnstile-response', value: 'forged.token' }]), 403, 'turnstile_failed');
        expect(remote.hits).to.deep.equal([]);
        await expectNothingLeft(guarded);
      });

      it('lets a guest whose token verifies on to the fetch (where a loopback link is refused to guests)', async () => {
        const token = fake.mint({ action: 'upload', hostname: '127.0.0.1' });
        const res = await formPost(guarded, [
          { name: 'cf-turnstile-response', value: token },
          { name: 'url', value: `${remote.url}/photo.png` },
        ]);
        expectJsonError(res, 422, 'url_not_allowed');
        expect(remote.hits).to.deep.equal([]);
      });

      it('a guest whose token verifies gets the image, the chosen expiry and a delete link, as for a file (loopback opened to guests for this test)', async () => {
        // Production gives guests public addresses only; this machine has none to fetch from, so the test opens its own server.
        const open = await startTestApp(
          { TURNSTILE_SITE_KEY: '0x4AAAAAAAtestsitekey', TURNSTILE_SECRET_KEY: fake.secret, TURNSTILE_VERIFY_URL: fake.verifyUrl },
          { guestOutboundAllow: ['127.0.0.1'] },
        );
        try {
          const token = fake.mint({ action: 'upload', hostname: '127.0.0.1' });
          const res = await formPost(open, [
            { name: 'cf-turnstile-response', value: token },
            { name: 'expires', value: '1d' },
            { name: 'url', value: `${remote.url}/photo.png` },
          ]);
          expect(res.status, res.body.toString()).to.equal(201);
          const image = res.json() as { id: string; url: string; deleteUrl: string };
          expect(image.deleteUrl).to.match(new RegExp(`/delete/${image.id}/[0-9A-Za-z]{24}$`));
          const row = await open.db('images').where({ id: image.id }).first();
          expect(row).to.include({ owner_id: null, source_url: null, mime: 'image/png' });
          expect(Number(new Date(row.expires_at)) - Date.now()).to.be.within(23 * 3_600_000, 24 * 3_600_000 + 60_000);
          expect((await rawRequest(image.url)).status).to.equal(200);
          expect(remote.hits).to.deep.equal(['/photo.png']);
          expect(await waitForEmptyTemp(open)).to.deep.equal([]);
        } finally {
          await open.close();
        }
      });
    });
  });

  it('stops fetching and removes the temp file as soon as the client hangs up', async () => {
    // A long idle timeout, so only the hang-up can explain the temp file going away in time.
    const patient = await startTestApp({ OUTBOUND_ALLOW: '127.0.0.1', UPLOAD_IDLE_TIMEOUT_MS: '60000' });
    try {
      const alice = await signedInUser(patient);
      const { body, contentType } = multipart([{ name: '_csrf', value: await csrfOf(alice) }, { name: 'url', value: `${remote.url}/stall-body` }]);
      const headers = { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json', Cookie: alice.client.cookieHeader() };
      const req = request(`${patient.url}/upload`, { method: 'POST', headers });
      req.on('error', () => undefined);
      req.end(body);
      await until(async () => (await listFiles(patient.tempDir)).length === 1, 'the temp file being written');
      req.destroy();
      expect(await waitForEmptyTemp(patient, 5000)).to.deep.equal([]);
      expect(await imageCount(patient)).to.equal(0);
    } finally {
      await patient.close();
    }
  });
});
