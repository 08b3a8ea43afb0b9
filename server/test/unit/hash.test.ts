import { expect } from 'chai';
import { secretMatchesHash, sha256Hex } from '../../lib/hash.js';

// FIPS 180-2 / NIST test vectors.
const VECTORS: Array<[string, string]> = [
  ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
];

describe('hash', () => {
  describe('sha256Hex', () => {
    for (const [input, digest] of VECTORS) {
      it(`hashes ${JSON.stringify(input.slice(0, 12))}… to the published digest`, () => {
        expect(sha256Hex(input)).to.equal(digest);
        expect(sha256Hex(Buffer.from(input))).to.equal(digest);
      });
    }

    it('hashes one million "a" characters to the published digest', () => {
      expect(sha256Hex('a'.repeat(1_000_000))).to.equal('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
    });

    it('returns 64 lower-case hex digits', () => {
      expect(sha256Hex('Pixbin')).to.match(/^[0-9a-f]{64}$/);
    });

    it('hashes strings as UTF-8', () => {
      expect(sha256Hex('é')).to.equal(sha256Hex(Buffer.from([0xc3, 0xa9])));
      expect(sha256Hex('é')).not.to.equal(sha256Hex(Buffer.from([0xe9])));
    });

    it('hashes binary buffers byte for byte (no text decoding)', () => {
      const bytes = Buffer.from([0x00, 0xff, 0x80, 0xc3]);
      // printf '\x00\xff\x80\xc3' | sha256sum
      expect(sha256Hex(bytes)).to.equal('53993cceb3984b1e8b8a8ef5da3fc2e8c6288c1e1685c261276f9d4344350abe');
      expect(sha256Hex(bytes)).not.to.equal(sha256Hex(bytes.toString('latin1')));
    });
  });

  describe('secretMatchesHash', () => {
    const secret = 'Zx8pQm2LrT5vW9yB3nC6dF1h';
    const stored = sha256Hex(secret);

    it('is true for the secret whose hash was stored', () => {
      expect(secretMatchesHash(secret, stored)).to.equal(true);
    });

    it('accepts a stored digest written in upper-case hex', () => {
      expect(secretMatchesHash(secret, stored.toUpperCase())).to.equal(true);
    });

    it('is false for a different secret, one character off, a prefix or the empty string', () => {
      expect(secretMatchesHash('Zx8pQm2LrT5vW9yB3nC6dF1i', stored)).to.equal(false);
      expect(secretMatchesHash(secret.slice(0, -1), stored)).to.equal(false);
      expect(secretMatchesHash(`${secret} `, stored)).to.equal(false);
      expect(secretMatchesHash(secret.toLowerCase(), stored)).to.equal(false);
      expect(secretMatchesHash('', stored)).to.equal(false);
    });

    it('is false when the stored value is the secret itself rather than its hash', () => {
      expect(secretMatchesHash(secret, secret)).to.equal(false);
    });

    const malformed: Array<[string, string]> = [
      ['empty', ''],
      ['63 hex digits', stored.slice(0, 63)],
      ['62 hex digits', stored.slice(0, 62)],
      ['65 hex digits (an odd extra digit is silently dropped by Buffer.from)', `${stored}0`],
      ['66 hex digits', `${stored}00`],
      ['the digest followed by non-hex junk (Buffer.from stops at the first bad digit)', `${stored}zz`],
      ['the digest followed by a newline', `${stored}\n`],
      ['the digest with leading whitespace', ` ${stored}`],
      ['64 non-hex characters', 'g'.repeat(64)],
      ['hex with a non-hex character inside', `${stored.slice(0, 10)}x${stored.slice(11)}`],
      ['base64 of the digest', Buffer.from(stored, 'hex').toString('base64')],
      ['128 hex digits (as long as a SHA-512 digest)', stored + stored],
    ];
    for (const [what, value] of malformed) {
      it(`is false, without throwing, for a stored value that is ${what}`, () => {
        expect(() => secretMatchesHash(secret, value)).not.to.throw();
        expect(secretMatchesHash(secret, value)).to.equal(false);
      });
    }
  });
});
