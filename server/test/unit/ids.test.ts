import { expect } from 'chai';
import { DELETE_KEY_LENGTH, IMAGE_ID_LENGTH, isDeleteKey, isImageId, newDeleteKey, newImageId, randomBase62 } from '../../lib/ids.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const bitsOf = (length: number): number => length * Math.log2(62);

/** Every character that appears in the strings, with how often. */
function charCounts(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  return counts;
}

describe('ids', () => {
  describe('lengths and entropy', () => {
    it('gives image ids at least 70 bits of entropy', () => {
      expect(newImageId()).to.have.length(IMAGE_ID_LENGTH);
      expect(bitsOf(IMAGE_ID_LENGTH)).to.be.at.least(70);
    });

    it('gives delete keys at least 128 bits of entropy', () => {
      expect(newDeleteKey()).to.have.length(DELETE_KEY_LENGTH);
      expect(bitsOf(DELETE_KEY_LENGTH)).to.be.at.least(128);
    });

    it('randomBase62 returns exactly the requested number of characters', () => {
      for (const length of [0, 1, 2, 7, 12, 24, 100, 1000]) expect(randomBase62(length), String(length)).to.have.length(length);
    });
  });

  describe('alphabet', () => {
    it('uses only base62 characters, so ids are URL-safe without encoding', () => {
      for (let i = 0; i < 500; i += 1) {
        for (const value of [newImageId(), newDeleteKey()]) {
          expect(value).to.match(/^[0-9A-Za-z]+$/);
          expect(encodeURIComponent(value)).to.equal(value);
        }
      }
    });

    it('produces no duplicates in 10,000 image ids and uses every one of the 62 characters', () => {
      const ids = Array.from({ length: 10_000 }, newImageId);
      expect(new Set(ids).size).to.equal(ids.length);
      expect([...charCounts(ids).keys()].sort().join('')).to.equal([...BASE62].sort().join(''));
    });

    it('uses every character about equally often (no modulo bias towards the first 8)', () => {
      // 256 % 62 = 8: a plain `byte % 62` would make '0'…'7' 25% likelier than the rest.
      const counts = charCounts(Array.from({ length: 5_000 }, () => randomBase62(40)));
      const expected = (5_000 * 40) / 62;
      for (const ch of BASE62) expect(counts.get(ch) ?? 0, ch).to.be.within(expected * 0.85, expected * 1.15);
      const first8 = [...BASE62.slice(0, 8)].reduce((sum, ch) => sum + counts.get(ch)!, 0) / 8;
      const rest = [...BASE62.slice(8)].reduce((sum, ch) => sum + counts.get(ch)!, 0) / 54;
      expect(first8 / rest).to.be.within(0.95, 1.05);
    });

    it('uses every character at every position of an image id (the first two pick the storage shard)', () => {
      const ids = Array.from({ length: 10_000 }, newImageId);
      for (let position = 0; position < IMAGE_ID_LENGTH; position += 1) {
        expect(new Set(ids.map((id) => id[position])).size, `position ${position}`).to.equal(62);
      }
    });
  });

  describe('unpredictability', () => {
    it('is not sequential: consecutive ids share no common prefix pattern and are not sorted', () => {
      const ids = Array.from({ length: 200 }, newImageId);
      const sortedAsc = [...ids].sort();
      expect(ids).not.to.deep.equal(sortedAsc);
      expect(ids).not.to.deep.equal([...sortedAsc].reverse());
      // Random 12-character ids share a 5-character prefix with the next one with probability 62^-5.
      const sharedPrefixes = ids.slice(1).filter((id, i) => id.slice(0, 5) === ids[i]!.slice(0, 5));
      expect(sharedPrefixes).to.have.length(0);
    });

    it('differs from the previous id in most positions', () => {
      let differing = 0;
      let previous = newImageId();
      for (let i = 0; i < 1000; i += 1) {
        const next = newImageId();
        for (let p = 0; p < IMAGE_ID_LENGTH; p += 1) if (next[p] !== previous[p]) differing += 1;
        previous = next;
      }
      // Expected 61/62 of positions differ; a counter would change only the last one or two.
      expect(differing / (1000 * IMAGE_ID_LENGTH)).to.be.above(0.95);
    });

    it('gives a delete key that is not derived from the image id created just before it', () => {
      const id = newImageId();
      const key = newDeleteKey();
      expect(key.startsWith(id)).to.equal(false);
      expect(key.endsWith(id)).to.equal(false);
    });
  });

  describe('isImageId', () => {
    it('accepts what newImageId makes', () => {
      for (let i = 0; i < 100; i += 1) expect(isImageId(newImageId())).to.equal(true);
      expect(isImageId('0123456789ab')).to.equal(true);
      expect(isImageId('ZZZZZZZZZZZZ')).to.equal(true);
    });

    const rejected: Array<[string, string]> = [
      ['empty', ''],
      ['11 characters', 'abcdefghijk'],
      ['13 characters', 'abcdefghijklm'],
      ['a delete key', 'abcdefghijklmnopqrstuvwx'],
      ['a hyphen', 'abcdef-hijkl'],
      ['an underscore', 'abcdef_hijkl'],
      ['a dot', 'abcdefghijk.'],
      ['a slash', 'abcdef/hijkl'],
      ['a space', 'abcdef hijkl'],
      ['a percent escape', 'abcdefghi%41'],
      ['a trailing newline', 'abcdefghijkl\n'],
      ['a leading newline', '\nabcdefghijkl'],
      ['a NUL', 'abcdefghijk\u0000'],
      ['an accented letter', 'abcdéfghijkl'.normalize('NFC')],
      ['fullwidth digits', '０１２３４５６７８９ab'],
      ['the Kelvin sign', 'abcdefghijk\u212a'],
      ['an astral character', 'abcdefghij😀'],
      ['a path traversal', '../../etc/pw'],
    ];
    for (const [what, value] of rejected) {
      it(`rejects ${what}`, () => {
        expect(isImageId(value)).to.equal(false);
      });
    }
  });

  describe('isDeleteKey', () => {
    it('accepts what newDeleteKey makes', () => {
      for (let i = 0; i < 100; i += 1) expect(isDeleteKey(newDeleteKey())).to.equal(true);
    });

    const rejected: Array<[string, string]> = [
      ['empty', ''],
      ['an image id', 'abcdefghijkl'],
      ['23 characters', 'a'.repeat(23)],
      ['25 characters', 'a'.repeat(25)],
      ['a hyphen', `${'a'.repeat(23)}-`],
      ['base64url padding', `${'a'.repeat(22)}==`],
      ['a trailing newline', `${'a'.repeat(24)}\n`],
      ['unicode letters', `${'a'.repeat(23)}ß`],
      ['a space in the middle', `${'a'.repeat(12)} ${'a'.repeat(11)}`],
    ];
    for (const [what, value] of rejected) {
      it(`rejects ${what}`, () => {
        expect(isDeleteKey(value)).to.equal(false);
      });
    }
  });
});
