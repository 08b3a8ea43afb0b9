import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { expectJsonError, waitForEmptyTemp } from '../helpers/assertions.js';
import { multipart, rawRequest, type RawResponse } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/** One file of a batch, sent as the upload page sends it: the expiry choice first, then the file, answered in JSON. */
function guestBatchUpload(app: TestApp, bytes: Buffer, filename: string, expires: string): Promise<RawResponse> {
  const { body, contentType } = multipart([
    { name: 'expires', value: expires },
    { name: 'file', value: bytes, filename, contentType: 'image/png' },
  ]);
  return rawRequest(`${app.url}/upload`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' },
    body,
  });
}

describe('several files from the upload page', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp({ GUEST_RETENTION_OPTIONS: 'never,1d,7d' });
  });
  afterEach(() => app.close());

  it('takes a batch as one request per file, side by side, each with its own links and the batch\'s expiry', async () => {
    const png = await fixtures.png();
    const answers = await Promise.all(['a.png', 'b.png', 'c.png'].map((name) => guestBatchUpload(app, png, name, '1d')));
    expect(answers.map((r) => r.status)).to.deep.equal([201, 201, 201]);
    const bodies = answers.map((r) => r.json() as { id: string; pageUrl: string; url: string; thumbnailUrl: string; deleteUrl: string; expiresAt: string });
    expect(new Set(bodies.map((b) => b.id)).size).to.equal(3);
    expect(new Set(bodies.map((b) => b.deleteUrl)).size, 'a delete link each').to.equal(3);
    for (const b of bodies) {
      for (const url of [b.pageUrl, b.url, b.thumbnailUrl, b.deleteUrl]) expect((await rawRequest(url)).status, url).to.equal(200);
      const row = (await app.db('images').where({ id: b.id }).first()) as { created_at: Date | string; expires_at: Date | string };
      const hours = (new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()) / 3_600_000;
      expect(hours).to.be.closeTo(24, 0.01);
    }
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);
  });

  it('takes a signed-in batch into the account, one request per file', async () => {
    const user = await signedInUser(app);
    const png = await fixtures.png();
    const answers = await Promise.all(['one.png', 'two.png'].map((filename) => ownerUpload(user, png, { filename, csrf: 'header' })));
    expect(answers.map((r) => r.status)).to.deep.equal([201, 201]);
    const owned = (await app.db('images').where({ owner_id: user.id }).select('original_name')) as Array<{ original_name: string }>;
    expect(owned.map((r) => r.original_name).sort()).to.deep.equal(['one.png', 'two.png']);
  });

  it('still refuses two files in one request, which is why the plain form offers one', async () => {
    const png = await fixtures.png();
    const { body, contentType } = multipart([
      { name: 'file', value: png, filename: 'a.png', contentType: 'image/png' },
      { name: 'file', value: png, filename: 'b.png', contentType: 'image/png' },
    ]);
    const res = await rawRequest(`${app.url}/upload`, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' }, body });
    expectJsonError(res, 400, 'one_file_only');
    expect(await app.db('images')).to.have.length(0);
    expect(await waitForEmptyTemp(app)).to.deep.equal([]);

    // Without JavaScript the form takes one file and posts it to the result page; the list is for scripts only.
    const home = (await rawRequest(`${app.url}/`, { headers: { Accept: 'text/html' } })).body.toString();
    const input = /<input id="file"[^>]*>/.exec(home)?.[0] ?? '';
    expect(input).to.include('name="file"').and.not.include('multiple');
    expect(home).to.match(/<div id="upload-batch"[^>]*\bhidden\b/);
    for (const src of ['/static/js/copy.js', '/static/js/upload-list.js', '/static/js/upload.js']) {
      expect(home).to.include(`<script src="${src}" defer></script>`);
      const script = await rawRequest(`${app.url}${src}`);
      expect(script.status, src).to.equal(200);
      expect(String(script.headers['content-type'])).to.match(/javascript/);
    }
    const { body: form, contentType: formType } = multipart([{ name: 'file', value: png, filename: 'plain.png', contentType: 'image/png' }]);
    const posted = await rawRequest(`${app.url}/upload`, { method: 'POST', headers: { 'Content-Type': formType, 'Content-Length': String(form.length), Accept: 'text/html' }, body: form });
    expect(posted.status).to.equal(303);
    expect(posted.headers.location).to.match(/\/upload\/\w{12}$/);
  });
});
