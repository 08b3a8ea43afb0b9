import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { signedInUser, type TestUser } from '../helpers/accounts.js';
import { downloadsFromPage, keyFromPage, postCreateKey } from '../helpers/api-key-pages.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

/** ShareX's `{json:path}` syntax, as far as these files use it: a dotted path into the JSON answer. */
function resolveJson(template: string, answer: unknown): string {
  return template.replace(/\{json:([^}]+)\}/g, (_m, jsonPath: string) => {
    const value = jsonPath.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), answer);
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`{json:${jsonPath}} does not resolve in ${JSON.stringify(answer)}`);
    return String(value);
  });
}

/** Exactly the request ShareX builds from a custom uploader file, for one file. */
async function shareXUpload(sxcu: Record<string, any>, file: { bytes: Buffer; name: string; type: string }): Promise<Response> {
  expect(sxcu.Body).to.equal('MultipartFormData');
  const form = new FormData();
  for (const [name, value] of Object.entries((sxcu.Arguments ?? {}) as Record<string, string>)) form.append(name, value);
  form.append(sxcu.FileFormName as string, new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
  return fetch(sxcu.RequestURL as string, { method: sxcu.RequestMethod as string, headers: sxcu.Headers as Record<string, string>, body: form, redirect: 'manual' });
}

/** Runs a shell script with sh, standard input from bytes; resolves with its exit code and output. */
function runSh(script: string, args: string[], env: Record<string, string | undefined>, stdin?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [script, ...args], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

/** The real curl on PATH, which the recording wrapper hands over to. */
async function whichCurl(): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir, 'curl');
    if (await fs.access(candidate, fs.constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new Error('the shell script test needs curl on PATH');
}

describe('uploaders end to end: the ShareX file and the shell script from the key page', function () {
  this.timeout(60_000);
  let app: TestApp;
  let user: TestUser;
  let page: string;
  beforeEach(async () => {
    app = await startTestApp();
    user = await signedInUser(app);
    const created = await postCreateKey(user, { name: 'Uploaders', scopes: ['images:read', 'images:write'], password: user.password });
    expect(created.status, created.body.toString().slice(0, 300)).to.equal(201);
    page = created.body.toString();
  });
  afterEach(() => app.close());

  it('performs the exact request ShareX would; the URLs it extracts open the image, and the deletion page deletes it', async () => {
    const { key } = keyFromPage(page);
    const { sxcu } = downloadsFromPage(page);
    expect(sxcu).to.include({ RequestMethod: 'POST', FileFormName: 'file', URL: '{json:url}', ThumbnailURL: '{json:thumbnail_url}', DeletionURL: '{json:delete_url}', ErrorMessage: '{json:detail}' });
    expect(Number.parseInt(String(sxcu.Version), 10)).to.be.at.least(14);

    const res = await shareXUpload(sxcu, { bytes: await fixtures.jpegWithGps(), name: 'Screenshot 2026-12-03.jpg', type: 'image/jpeg' });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).to.equal(201);
    const answer = JSON.parse(text) as Record<string, unknown>;
    const url = resolveJson(sxcu.URL as string, answer);
    const thumbnail = resolveJson(sxcu.ThumbnailURL as string, answer);
    const deletion = resolveJson(sxcu.DeletionURL as string, answer);
    expect(answer.visibility, 'the Arguments field came through').to.equal('unlisted');

    for (const link of [url, thumbnail]) {
      const image = await fetch(link);
      expect(image.status, link).to.equal(200);
      expect(image.headers.get('content-type'), link).to.match(/^image\//);
      expect((await image.arrayBuffer()).byteLength).to.be.greaterThan(0);
    }

    // ShareX opens the deletion URL in a browser: a page with a confirm button, which knows nothing of the key.
    const confirm = await fetch(deletion, { headers: { Accept: 'text/html' } });
    expect(confirm.status).to.equal(200);
    expect(confirm.headers.get('content-type')).to.match(/^text\/html/);
    const html = await confirm.text();
    expect(html).to.include('<form method="post"').and.include('Delete permanently');
    expect(html).to.not.include(key).and.not.include(key.slice(21));
    const deleted = await fetch(deletion, { method: 'POST', headers: { Accept: 'text/html' } });
    expect(deleted.status).to.equal(200);
    expect((await fetch(url)).status).to.equal(404);

    // The account holder sees the upload in the key's request log, as its route pattern.
    const { keyId } = keyFromPage(page);
    const log = (await user.client.get(`/account/api-keys/${keyId}`)).body.toString();
    expect(/id="recent-table">[\s\S]*?<\/table>/.exec(log)?.[0]).to.include('POST /api/v1/images').and.include('<td>201</td>');
    expect(/id="daily-table">[\s\S]*?<\/table>/.exec(log)?.[0]).to.match(/<td>1<\/td><td>1<\/td><td>[\d.]+ KB<\/td><td>0<\/td>/);
    expect(log).to.not.include(key);
  });

  it("an error answer resolves ShareX's ErrorMessage to a readable message", async () => {
    const { sxcu } = downloadsFromPage(page);
    const res = await shareXUpload(sxcu, { bytes: Buffer.from('this is not an image\n'), name: 'notes.txt', type: 'text/plain' });
    expect(res.status).to.be.within(400, 499);
    expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const message = resolveJson(sxcu.ErrorMessage as string, await res.json());
    expect(message).to.match(/[a-z]{3,}.*\./i);
    expect(await app.db('images')).to.have.length(0);
  });

  describe('the shell script', () => {
    let dir: string;
    let clip: string;
    let env: Record<string, string | undefined>;
    let argv: string;
    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-script-'));
      clip = path.join(dir, 'clipboard');
      // Stand-ins for wl-copy and xclip: they write what they are given, and which of them ran, to files.
      const bin = path.join(dir, 'bin');
      await fs.mkdir(bin);
      for (const tool of ['wl-copy', 'xclip']) {
        await fs.writeFile(path.join(bin, tool), `#!/bin/sh\nprintf '%s %s' '${tool}' "$*" > "${clip}.tool"\ncat > "${clip}"\n`, { mode: 0o755 });
      }
      // And a curl that writes down its arguments and environment, as `ps` and /proc show them, before the real one runs.
      const realCurl = await whichCurl();
      argv = path.join(dir, 'curl-argv');
      await fs.writeFile(path.join(bin, 'curl'), `#!/bin/sh\nprintf '%s\\n' "$@" >> "${argv}"\nenv >> "${argv}"\nexec "${realCurl}" "$@"\n`, { mode: 0o755 });
      env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir };
      const { script, scriptName } = downloadsFromPage(page);
      // Saved as the page says: readable by its owner only; `sh script` needs no execute bit.
      await fs.writeFile(path.join(dir, scriptName), script, { mode: 0o600 });
    });
    afterEach(() => fs.rm(dir, { recursive: true, force: true }));

    const clipboard = async () => ({ text: await fs.readFile(clip, 'utf8').catch(() => null), tool: await fs.readFile(`${clip}.tool`, 'utf8').catch(() => null) });

    it('uploads a file on X11 (xclip) and a piped capture on Wayland (wl-copy); the copied URL serves the image', async () => {
      const photo = path.join(dir, 'holiday photo; 1.png');
      await fs.writeFile(photo, await fixtures.png());
      const x11 = await runSh(path.join(dir, 'pixbin-upload.sh'), [photo], env);
      expect(x11.code, x11.stderr).to.equal(0);
      const first = await clipboard();
      expect(first.tool).to.equal('xclip -selection clipboard');
      expect(first.text).to.match(/^http:\/\/127\.0\.0\.1:\d+\/\S+$/);
      expect(x11.stdout.trim()).to.equal(first.text);
      const served = await fetch(first.text!);
      expect(served.status).to.equal(200);
      expect(served.headers.get('content-type')).to.match(/^image\//);

      // As Flameshot runs it: `flameshot gui --raw | sh ~/pixbin-upload.sh`.
      const wayland = await runSh(path.join(dir, 'pixbin-upload.sh'), [], { ...env, WAYLAND_DISPLAY: 'wayland-0' }, await fixtures.jpegWithGps());
      expect(wayland.code, wayland.stderr).to.equal(0);
      const second = await clipboard();
      expect(second.tool).to.equal('wl-copy ');
      expect(second.text).to.not.equal(first.text);
      expect((await fetch(second.text!)).status).to.equal(200);
      expect(await app.db('images').where({ owner_id: user.id })).to.have.length(2);

      // The key went to curl on standard input: other local users, who can read any command line, never see it.
      const { key, secret } = keyFromPage(page);
      const seen = await fs.readFile(argv, 'utf8');
      expect(seen, 'curl ran, through the recording wrapper').to.include('Accept: text/plain');
      expect(seen).to.not.include(secret).and.not.include(key.slice(0, 20));
      expect(seen).to.include('\n-H\n@-\n');
    });

    it('fails loudly, with the server’s message, and copies nothing', async () => {
      const notes = path.join(dir, 'notes.txt');
      await fs.writeFile(notes, 'not an image at all\n');
      const refused = await runSh(path.join(dir, 'pixbin-upload.sh'), [notes], env);
      expect(refused.code).to.not.equal(0);
      // curl's own line, then the problem's detail: a sentence, not the JSON around it.
      const said = /^pixbin: upload failed: (.*)$/m.exec(refused.stderr)?.[1];
      expect(said, refused.stderr).to.match(/^[A-Z].*[a-z]{3,}.*\.$/);
      expect(said).to.not.include('{');
      expect((await clipboard()).text).to.equal(null);

      const cancelled = await runSh(path.join(dir, 'pixbin-upload.sh'), [], env, Buffer.alloc(0));
      expect(cancelled.code).to.not.equal(0);
      expect(cancelled.stderr).to.include('nothing to upload');
      expect(await app.db('images')).to.have.length(0);
    });
  });
});
