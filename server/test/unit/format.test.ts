import { expect } from 'chai';
import { humanBytes, parseByteSize } from '../../lib/format.js';

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

describe('parseByteSize', () => {
  const cases: Array<[string, number]> = [
    ['500 MB', 500 * 1024 ** 2],
    ['2 GB', 2 * 1024 ** 3],
    ['2gb', 2 * 1024 ** 3],
    [' 1.5 GiB ', 1.5 * 1024 ** 3],
    ['10 k', 10 * 1024],
    ['0', 0],
    ['4096', 4096],
    ['12 B', 12],
    ['1 TB', 1024 ** 4],
  ];
  for (const [text, bytes] of cases) {
    it(`reads "${text}" as ${bytes} bytes`, () => {
      expect(parseByteSize(text)).to.equal(bytes);
    });
  }

  it('reads back what humanBytes writes', () => {
    expect(parseByteSize(humanBytes(25 * 1024 * 1024))).to.equal(25 * 1024 * 1024);
  });

  it('refuses anything that is not a size', () => {
    for (const text of ['', 'lots', '-5 MB', '5 PB', '5 MBB', '1e9', '5 ib', '1,5 GB', '9'.repeat(30), `1 ${'G'.repeat(50)}`]) expect(parseByteSize(text), text).to.equal(null);
  });
});
