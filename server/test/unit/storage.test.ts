import { expect } from 'chai';
import path from 'node:path';
import { newImageId } from '../../lib/ids.js';
import { allImageKeys } from '../../storage/keys.js';
import { containedPath } from '../../storage/local.storage.js';
import { assertValidKey, StorageError } from '../../storage/storage.js';

/** Keys that must never reach a filesystem or bucket. */
const HOSTILE_KEYS: Array<[string, string]> = [
  ['empty', ''],
  ['a parent segment', '../secret'],
  ['a nested parent segment', 'images/../../etc/passwd'],
  ['a trailing parent segment', 'images/ab/..'],
  ['a lone parent segment', '..'],
  ['a current-directory segment', './images/x.png'],
  ['a middle current-directory segment', 'images/./x.png'],
  ['a lone dot', '.'],
  ['three dots', '.../x'],
  ['an absolute POSIX path', '/etc/passwd'],
  ['a root', '/'],
  ['a Windows drive path', 'C:\\Windows\\win.ini'],
  ['a Windows drive-relative path', 'C:x.png'],
  ['a UNC path', '\\\\server\\share\\x'],
  ['backslash traversal', '..\\..\\etc\\passwd'],
  ['a backslash separator', 'images\\ab\\x.png'],
  ['a NUL byte', 'images/x.png\u0000.txt'],
  ['a newline', 'images/x.png\n'],
  ['percent-encoded dots', '%2e%2e/secret'],
  ['percent-encoded slash', '..%2fsecret'],
  ['double-encoded traversal', '%252e%252e%252fsecret'],
  ['fullwidth dots and solidus', '\uff0e\uff0e\uff0fsecret'],
  ['a one-dot-leader pair', '\u2024\u2024/secret'],
  ['a leading hidden segment', '.tmp/x.part'],
  ['a hidden segment', 'images/.git/config'],
  ['an empty segment', 'images//x.png'],
  ['a trailing slash', 'images/'],
  ['a leading dash segment', '-rf/x'],
  ['a space', 'images/my cat.png'],
  ['a URL', 'file:///etc/passwd'],
  ['a home-directory tilde', '~/x.png'],
  ['513 characters', `a${'b'.repeat(512)}`],
];

describe('storage keys', () => {
  describe('assertValidKey', () => {
    const valid = ['a', 'x.png', 'images/ab/abcdefghijkl.png', 'thumbs/Zz/Zz0123456789.webp', 'a-b_c.d/e', 'data2/x', `a${'b'.repeat(511)}`, 'a..b/c'];
    for (const key of valid) {
      it(`accepts ${JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}…(${key.length})` : key)}`, () => {
        expect(() => assertValidKey(key)).not.to.throw();
      });
    }

    for (const [what, key] of HOSTILE_KEYS) {
      it(`refuses ${what} with a StorageError`, () => {
        expect(() => assertValidKey(key)).to.throw(StorageError, /invalid storage key/);
      });
    }

    it('accepts every key the server generates for an image', () => {
      for (let i = 0; i < 500; i += 1) {
        for (const key of allImageKeys({ id: newImageId(), ext: 'jpg' })) expect(() => assertValidKey(key), key).not.to.throw();
      }
    });

    it('escapes the key in its message, so a hostile key cannot forge a log line', () => {
      let message = '';
      try {
        assertValidKey('x\n{"level":60,"msg":"forged"}\u0000');
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.include('\\n');
      expect(message).not.to.include('\n');
      expect(message).not.to.include('\u0000');
    });

    it('quotes at most 80 characters of a long key', () => {
      expect(() => assertValidKey(`/${'y'.repeat(5000)}`)).to.throw(StorageError).with.property('message').that.has.length.below(200);
    });
  });

  describe('containedPath', () => {
    const root = path.resolve('/data');

    it('resolves a valid key to a path under the root', () => {
      expect(containedPath(root, 'images/ab/abcdefghijkl.png')).to.equal(path.join(root, 'images', 'ab', 'abcdefghijkl.png'));
      expect(containedPath(root, 'x')).to.equal(path.join(root, 'x'));
    });

    for (const [what, key] of HOSTILE_KEYS) {
      it(`refuses ${what}`, () => {
        expect(() => containedPath(root, key)).to.throw(StorageError);
      });
    }

    it('refuses a sibling directory that shares the root’s prefix (/data vs /data2)', () => {
      expect(() => containedPath(root, '../data2/secret.png')).to.throw(StorageError);
      expect(() => containedPath(root, '../data-old/x')).to.throw(StorageError);
    });

    it('keeps a key that merely starts like a sibling inside the root', () => {
      expect(containedPath(root, 'data2/x.png')).to.equal(path.join(root, 'data2', 'x.png'));
    });

    it('never returns a path outside the root for any generated key', () => {
      for (let i = 0; i < 200; i += 1) {
        for (const key of allImageKeys({ id: newImageId(), ext: 'png' })) {
          expect(containedPath(root, key).startsWith(root + path.sep)).to.equal(true);
        }
      }
    });

    it('never widens containment when given a root that is not normalised', () => {
      for (const raw of [`${root}${path.sep}`, `${root}${path.sep}.`, 'data']) {
        let resolved: string | null = null;
        try {
          resolved = containedPath(raw, 'x.png');
        } catch (err) {
          expect(err).to.be.instanceOf(StorageError);
        }
        if (resolved !== null) expect(resolved).to.equal(path.join(path.resolve(raw), 'x.png'));
        expect(() => containedPath(raw, '../x.png')).to.throw(StorageError);
      }
    });
  });
});
