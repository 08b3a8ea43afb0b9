import { expect } from 'chai';
import { sanitizeDisplayName } from '../../lib/filename.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const BIDI_AND_MARKS = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
const codePoints = (value: string): number => Array.from(value).length;

/** One test per [raw, expected] pair. */
function itTurns(cases: Array<[string, string]>): void {
  for (const [raw, expected] of cases) {
    it(`turns ${JSON.stringify(raw)} into ${JSON.stringify(expected)}`, () => {
      expect(sanitizeDisplayName(raw)).to.equal(expected);
    });
  }
}

describe('sanitizeDisplayName', () => {
  it('keeps an ordinary name as it is', () => {
    expect(sanitizeDisplayName('holiday photo (2).jpg')).to.equal('holiday photo (2).jpg');
    expect(sanitizeDisplayName('Straße_日本語_😀.png')).to.equal('Straße_日本語_😀.png');
  });

  it('returns an empty string for a missing name, so callers can fall back to the image id', () => {
    expect(sanitizeDisplayName(undefined)).to.equal('');
    expect(sanitizeDisplayName(null)).to.equal('');
    expect(sanitizeDisplayName('')).to.equal('');
  });

  describe('path parts', () => {
    itTurns([
      ['/etc/passwd', 'passwd'],
      ['../../../etc/shadow', 'shadow'],
      ['C:\\Users\\alice\\Desktop\\cat.png', 'cat.png'],
      ['..\\..\\windows\\win.ini', 'win.ini'],
      ['mixed/slashes\\and/back\\name.gif', 'name.gif'],
      ['//server/share/pic.webp', 'pic.webp'],
      ['folder/', ''],
      ['folder\\', ''],
      ['/', ''],
    ]);

    it('never returns a slash or backslash', () => {
      for (const raw of ['a/b', 'a\\b', 'a/\u202e/b', '/\\/\\', 'x/\u0000\\y']) expect(sanitizeDisplayName(raw)).not.to.match(/[\\/]/);
    });
  });

  describe('dots', () => {
    itTurns([
      ['..', ''],
      ['.', ''],
      ['...', ''],
      ['.htaccess', 'htaccess'],
      ['...hidden.png', 'hidden.png'],
      ['  ..hidden.png', 'hidden.png'],
      ['. .x.png', 'x.png'],
      ['.\u0000.bashrc', 'bashrc'],
      ['\u202e.hidden', 'hidden'],
      ['photo.final.v2.jpg', 'photo.final.v2.jpg'],
      ['archive..png', 'archive..png'],
    ]);
  });

  describe('control characters', () => {
    it('removes NUL, so a name cannot be cut short where it is stored or shown', () => {
      expect(sanitizeDisplayName('cat.png\u0000.html')).to.equal('cat.png.html');
      expect(sanitizeDisplayName('\u0000\u0000')).to.equal('');
    });

    it('removes every C0 control, DEL and every C1 control', () => {
      const controls = [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i)];
      for (const code of controls) {
        const ch = String.fromCharCode(code);
        expect(sanitizeDisplayName(`a${ch}b.png`), `U+${code.toString(16).padStart(4, '0')}`).to.equal('ab.png');
      }
    });

    it('removes line breaks rather than keeping them (no header or log line splitting)', () => {
      expect(sanitizeDisplayName('name\r\nSet-Cookie: x=1.png')).to.equal('nameSet-Cookie: x=1.png');
      expect(sanitizeDisplayName('a\tb')).to.equal('ab');
    });

    it('removes the ESC and CSI that start ANSI escape sequences', () => {
      expect(sanitizeDisplayName('\u001b[31mred\u001b[0m.png')).to.equal('[31mred[0m.png');
      expect(sanitizeDisplayName('\u009b31mred.png')).to.equal('31mred.png');
    });
  });

  describe('bidirectional controls', () => {
    for (const mark of BIDI_AND_MARKS) {
      const code = `U+${mark.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      it(`removes ${code}`, () => {
        expect(sanitizeDisplayName(`inv${mark}oice.png`)).to.equal('invoice.png');
      });
    }

    it('defeats the right-to-left override trick that disguises an extension', () => {
      // With U+202E a bidi-aware UI shows this name as "invoiceexe.png"; without it the real .exe is visible.
      const name = sanitizeDisplayName('invoice\u202egnp.exe');
      expect(name).to.equal('invoicegnp.exe');
      for (const mark of BIDI_AND_MARKS) expect(name).not.to.include(mark);
    });

    it('removes all of them together, leaving nothing if nothing else was there', () => {
      expect(sanitizeDisplayName(BIDI_AND_MARKS.join(''))).to.equal('');
      expect(sanitizeDisplayName(`${BIDI_AND_MARKS.join('a')}.png`)).to.equal('aaaaaaaaaaa.png');
    });
  });

  describe('whitespace and normalisation', () => {
    it('collapses runs of whitespace (including no-break and line separators) and trims the ends', () => {
      expect(sanitizeDisplayName('  my   cat  .png  ')).to.equal('my cat .png');
      expect(sanitizeDisplayName('a\u00a0\u00a0b\u2028c\u3000d.png')).to.equal('a b c d.png');
    });

    it('returns NFC so the same name always compares equal', () => {
      expect(sanitizeDisplayName('cafe\u0301.png')).to.equal('caf\u00e9.png');
      expect(sanitizeDisplayName('cafe\u0301.png')).to.equal(sanitizeDisplayName('caf\u00e9.png'));
    });

    it('returns an empty string when only whitespace and controls were given', () => {
      expect(sanitizeDisplayName(' \t\r\n\u0000\u202e\u00a0 ')).to.equal('');
    });
  });

  describe('length', () => {
    it('keeps a name of exactly 200 characters and cuts longer ones to 200', () => {
      expect(sanitizeDisplayName('a'.repeat(200))).to.equal('a'.repeat(200));
      expect(sanitizeDisplayName('b'.repeat(5000))).to.equal('b'.repeat(200));
    });

    it('counts code points, so a surrogate pair is never split', () => {
      const emoji = sanitizeDisplayName('😀'.repeat(300));
      expect(codePoints(emoji)).to.equal(200);
      expect(emoji).to.have.length(400); // UTF-16 units
      expect(emoji).not.to.match(LONE_SURROGATE);

      const offByOne = sanitizeDisplayName(`a${'😀'.repeat(300)}`);
      expect(offByOne).to.equal(`a${'😀'.repeat(199)}`);
      expect(offByOne).not.to.match(LONE_SURROGATE);
    });

    it('applies the bound after removing controls and path parts, not before', () => {
      expect(sanitizeDisplayName(`${'\u202e'.repeat(500)}cat.png`)).to.equal('cat.png');
      expect(sanitizeDisplayName(`${'x'.repeat(500)}/cat.png`)).to.equal('cat.png');
    });

    it('does not leave a trailing space where the cut falls', () => {
      expect(sanitizeDisplayName(`${'a'.repeat(199)} tail.png`)).to.equal('a'.repeat(199));
    });

    it('never exceeds 200 code points for any mix of input', () => {
      const samples = ['é'.repeat(300), `${'😀a'.repeat(150)}.png`, 'e\u0301'.repeat(300), '\u{1f468}\u200d\u{1f469}'.repeat(100)];
      for (const raw of samples) {
        const out = sanitizeDisplayName(raw);
        expect(codePoints(out)).to.be.at.most(200);
        expect(out).not.to.match(LONE_SURROGATE);
      }
    });
  });
});
