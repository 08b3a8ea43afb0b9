import { expect } from 'chai';
import { humanBytes } from '../../lib/format.js';

describe('humanBytes', () => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.0 KB'],
    [1536, '1.5 KB'],
    [10 * 1024 - 1, '10.0 KB'],
    [10 * 1024, '10 KB'],
    [500 * 1024, '500 KB'],
    [1024 ** 2, '1.0 MB'],
    [1.25 * 1024 ** 2, '1.3 MB'],
    [25 * 1024 ** 2, '25 MB'],
    [1024 ** 3, '1.0 GB'],
    [2.5 * 1024 ** 3, '2.5 GB'],
    [1024 ** 4, '1024 GB'],
  ];
  for (const [bytes, expected] of cases) {
    it(`shows ${bytes} bytes as "${expected}"`, () => {
      expect(humanBytes(bytes)).to.equal(expected);
    });
  }

  it('uses binary multiples (1000 bytes are still bytes)', () => {
    expect(humanBytes(1000)).to.equal('1000 B');
    expect(humanBytes(1_000_000)).to.equal('977 KB');
  });

  it('labels the default upload limit the way the upload page shows it', () => {
    expect(humanBytes(25 * 1024 * 1024)).to.equal('25 MB');
  });
});
