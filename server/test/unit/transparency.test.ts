import { expect } from 'chai';
import { BadRequest, NotFound } from '../../errors.js';
import { formatDuration, parsePeriod, percentile, periodOf, suppressed } from '../../services/transparency.service.js';

describe('transparency report arithmetic', () => {
  const now = new Date('2026-12-04T21:00:00Z');

  it('shows 0 and counts from the threshold on, and "fewer than N" for 1 to N-1', () => {
    expect(suppressed(0, 5)).to.deep.equal({ value: 0, display: '0' });
    expect(suppressed(1, 5)).to.deep.equal({ value: null, display: 'fewer than 5' });
    expect(suppressed(4, 5)).to.deep.equal({ value: null, display: 'fewer than 5' });
    expect(suppressed(5, 5)).to.deep.equal({ value: 5, display: '5' });
    expect(suppressed(1, 1)).to.deep.equal({ value: 1, display: '1' });
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([1, 2, 10, 20, 30], 0.5)).to.equal(10);
    expect(percentile([1, 2, 10, 20, 30], 0.9)).to.equal(30);
    expect(percentile([1, 2, 3, 4], 0.5)).to.equal(2);
    expect(percentile([7], 0.9)).to.equal(7);
    expect(percentile(Array.from({ length: 10 }, (_, i) => i + 1), 0.9)).to.equal(9);
  });

  it('writes durations in minutes, hours or days', () => {
    expect(formatDuration(5 * 60_000)).to.equal('5 min');
    expect(formatDuration(90 * 60_000)).to.equal('1.5 hours');
    expect(formatDuration(47 * 3_600_000)).to.equal('47 hours');
    expect(formatDuration(60 * 3_600_000)).to.equal('2.5 days');
  });

  it('cuts calendar half-years in UTC and refuses malformed or future periods', () => {
    expect(periodOf(new Date('2026-06-30T23:59:59.999Z'), now)).to.deep.include({ key: '2026-H1', current: false, label: 'January to June 2026' });
    expect(periodOf(new Date('2026-07-01T00:00:00Z'), now)).to.deep.include({ key: '2026-H2', current: true, label: 'July to December 2026 (so far)' });
    const h2 = parsePeriod('2025-H2', now);
    expect([h2.from.toISOString(), h2.to.toISOString()]).to.deep.equal(['2025-07-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
    expect(parsePeriod(undefined, now).key).to.equal('2026-H2');
    for (const bad of ['2026-H3', '2026H1', 'x', ['2026-H1']]) expect(() => parsePeriod(bad, now), String(bad)).to.throw(BadRequest);
    expect(() => parsePeriod('2027-H1', now)).to.throw(NotFound);
  });
});
