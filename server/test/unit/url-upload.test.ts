import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AppError } from '../../errors.js';
import { OutboundFailed, OutboundRefused, type FetchResult, type OutboundRefusedReason } from '../../outbound/outbound.js';
import type { UploadDeps } from '../../services/upload.service.js';
import { nameFromUrl, parseUploadUrl, uploadFromUrl, type UrlUploadDeps } from '../../services/url-upload.service.js';
import { listFiles } from '../helpers/test-app.js';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? `${err.kind}:${err.code}` : String(err);
  }
  return 'no error';
};

describe('upload by URL: the link and the refusals', () => {
  it('takes http(s) links, dropping the fragment, and refuses the rest as bad_url', () => {
    expect(parseUploadUrl('  https://example.com/a.png?x=1#top ').href).to.equal('https://example.com/a.png?x=1');
    expect(parseUploadUrl('http://[2001:db8::1]:8080/a').href).to.equal('http://[2001:db8::1]:8080/a');
    for (const bad of ['', 'example.com/a.png', 'ftp://example.com/a.png', 'javascript:alert(1)', 'data:image/png;base64,AAAA', 'file:///etc/passwd', 'http://', `https://example.com/${'a'.repeat(2048)}`]) {
      expect(codeOf(() => parseUploadUrl(bad)), bad.slice(0, 40)).to.equal('bad_request:bad_url');
    }
  });

  it('refuses links with a user name or password rather than fetching or storing them', () => {
    for (const withCredentials of ['https://user:pass@example.com/a.png', 'https://user@example.com/a.png', 'https://:pass@example.com/a.png']) {
      expect(() => parseUploadUrl(withCredentials)).to.throw(/user name or password/);
    }
  });

  it('names the image after the link only when its last segment looks like an image file', () => {
    expect(nameFromUrl(new URL('https://example.com/pics/Sunset%20Beach.JPG?w=2'))).to.equal('Sunset Beach.JPG');
    expect(nameFromUrl(new URL('https://example.com/a/b/c'))).to.equal(undefined);
    expect(nameFromUrl(new URL('https://example.com/'))).to.equal(undefined);
    expect(nameFromUrl(new URL('https://example.com/%E0%A4%A.png'))).to.equal(undefined); // not decodable
  });

  describe('what the outbound module says, as the uploader is told', () => {
    let tempDir: string;
    beforeEach(async () => {
      tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-url-unit-'));
    });
    afterEach(() => fs.rm(tempDir, { recursive: true, force: true }));

    const deps = (fetchStream: () => Promise<FetchResult>): UrlUploadDeps => ({
      // Never reached: every case below is refused before the pipeline.
      upload: {} as UploadDeps,
      outbound: { fetchStream },
      tempDir,
      maxBytes: 1024,
      idleTimeoutMs: 200,
    });
    const attempt = async (d: UrlUploadDeps): Promise<string> => {
      try {
        await uploadFromUrl(d, { url: 'https://images.example/a.png', keepSource: false, ownerId: null, ip: undefined, userAgent: undefined });
      } catch (err) {
        return err instanceof AppError ? `${err.kind}:${err.code}` : `other:${String(err)}`;
      }
      return 'uploaded';
    };

    const expected: Record<OutboundRefusedReason, string> = {
      scheme: 'bad_request:bad_url',
      address: 'unprocessable:url_not_allowed',
      redirect: 'unprocessable:url_redirect_refused',
      too_large: 'payload_too_large:file_too_large',
      timeout: 'unprocessable:url_timeout',
      dns: 'unprocessable:url_fetch_failed',
      busy: 'unavailable:url_fetch_busy',
    };
    for (const [reason, code] of Object.entries(expected) as Array<[OutboundRefusedReason, string]>) {
      it(`refused (${reason}) → ${code}`, async () => {
        expect(await attempt(deps(() => Promise.reject(new OutboundRefused(reason, 'detail'))))).to.equal(code);
        expect(await listFiles(tempDir)).to.deep.equal([]);
      });
    }

    it('a guest is told that links must lead to a public address, an account that the operator can open one', async () => {
      const refused = () => Promise.reject(new OutboundRefused('address', 'detail'));
      const messageOf = (d: UrlUploadDeps) =>
        uploadFromUrl(d, { url: 'https://images.example/a.png', keepSource: false, ownerId: null, ip: undefined, userAgent: undefined }).then(
          () => 'uploaded',
          (err: Error) => err.message,
        );
      expect(await messageOf({ ...deps(refused), guests: true })).to.match(/public address/).and.not.to.match(/OUTBOUND_ALLOW/);
      expect(await messageOf(deps(refused))).to.match(/OUTBOUND_ALLOW/);
    });

    it('a full disk while writing the fetched bytes (a real ENOSPC) → 507 storage_full, no temp file', async () => {
      // A real ENOSPC from the kernel: /dev/full refuses every write with it.
      const enospc = await fs.writeFile('/dev/full', 'x').then(() => null, (err: unknown) => err);
      expect(enospc).to.include({ code: 'ENOSPC' });
      const failing = new Readable({
        read() {
          this.destroy(enospc as Error);
        },
      });
      const answer = (): Promise<FetchResult> => Promise.resolve({ status: 200, headers: {}, body: failing, finalUrl: 'https://images.example/a.png' });
      expect(await attempt(deps(answer))).to.equal('insufficient_storage:storage_full');
      expect(await listFiles(tempDir)).to.deep.equal([]);
    });

    it('an unreachable server → url_fetch_failed; a non-2xx answer names its status; a body cut off mid-way leaves no file', async () => {
      expect(await attempt(deps(() => Promise.reject(new OutboundFailed('x: ECONNRESET'))))).to.equal('unprocessable:url_fetch_failed');
      const answer = (status: number, body: Readable): Promise<FetchResult> => Promise.resolve({ status, headers: {}, body, finalUrl: 'https://images.example/a.png' });
      const err = await uploadFromUrl(deps(() => answer(503, Readable.from([Buffer.from('busy')]))), { url: 'https://images.example/a.png', keepSource: false, ownerId: null, ip: undefined, userAgent: undefined }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(AppError).and.to.include({ code: 'url_fetch_failed' });
      expect((err as Error).message).to.include('HTTP 503');
      // Some bytes, then the size cap cuts it off (as the module's capped stream does), once someone is reading.
      let reads = 0;
      const broken = new Readable({
        read() {
          reads += 1;
          if (reads === 1) this.push(Buffer.alloc(100));
          else this.destroy(new OutboundRefused('too_large', 'more'));
        },
      });
      expect(await attempt(deps(() => answer(200, broken)))).to.equal('payload_too_large:file_too_large');
      expect(await listFiles(tempDir)).to.deep.equal([]);
    });
  });
});
