import { expect } from 'chai';
import { BadRequest, NotFound } from '../../errors.js';
import { formatDuration, parsePeriod, percentile, periodOf, suppressCounts, suppressed, TRANSPARENCY_GROUPS, type CellState, type SumGroup } from '../../services/transparency.service.js';

/** A seeded generator (mulberry32), so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What a reader can work out of one group, computed cell by cell (not the way suppressCounts does it): when its
 * totals are known exactly, each hidden part lies in [least, most] given the others' ranges ("fewer than N" is
 * 1..N−1, "not shown" N or more) and the hidden sum. Returns the parts that range pins to one value.
 */
function deducible(g: SumGroup, counts: Record<string, number>, state: Record<string, CellState>, min: number): string[] {
  const known = (k: string) => state[k] === 'shown' || (state[k] === 'fewer' && min <= 2);
  if (!g.totals.every(known)) return [];
  const range = (k: string): [number, number] => (state[k] === 'fewer' ? [1, min - 1] : [min, Infinity]);
  const hidden = g.parts.filter((k) => !known(k));
  const left = g.totals.reduce((a, k) => a + counts[k]!, 0) - g.parts.filter(known).reduce((a, k) => a + counts[k]!, 0);
  return hidden.filter((k) => {
    const others = hidden.filter((o) => o !== k);
    const least = Math.max(range(k)[0], left - others.reduce((a, o) => a + range(o)[1], 0));
    const most = Math.min(range(k)[1], left - others.reduce((a, o) => a + range(o)[0], 0));
    return least >= most;
  });
}

describe('transparency report arithmetic', () => {
  const now = new Date('2026-12-04T21:00:00Z');
  const first = new Date('2024-03-01T00:00:00Z');

  it('shows 0 and counts from the threshold on, and "fewer than N" for 1 to N-1', () => {
    expect(suppressed(0, 5)).to.deep.equal({ value: 0, display: '0' });
    expect(suppressed(1, 5)).to.deep.equal({ value: null, display: 'fewer than 5' });
    expect(suppressed(4, 5)).to.deep.equal({ value: null, display: 'fewer than 5' });
    expect(suppressed(5, 5)).to.deep.equal({ value: 5, display: '5' });
    expect(suppressed(1, 1)).to.deep.equal({ value: 1, display: '1' });
  });

  it('withholds what would let a "fewer than N" be worked out from a total (the reviewer’s cases)', () => {
    const sources: SumGroup = { parts: ['visitor', 'account', 'trusted', 'unknown'], totals: ['total'] };
    // total 6, visitor 5: account would be 1.
    expect(suppressCounts({ total: 6, visitor: 5, account: 1, trusted: 0, unknown: 0 }, [sources], 3)).to.deep.equal({ total: 'shown', visitor: 'withheld', account: 'fewer', trusted: 'shown', unknown: 'shown' });
    // Two hidden adding up to 2 (each 1) or 4 (each 2 with N = 3); 3 leaves both open.
    expect(suppressCounts({ total: 7, visitor: 5, account: 1, trusted: 0, unknown: 1 }, [sources], 3).visitor).to.equal('withheld');
    expect(suppressCounts({ total: 9, visitor: 5, account: 2, trusted: 0, unknown: 2 }, [sources], 3).visitor).to.equal('withheld');
    expect(suppressCounts({ total: 8, visitor: 5, account: 1, trusted: 0, unknown: 2 }, [sources], 3).visitor).to.equal('shown');
    // Nothing left to hide but the total: it goes.
    const solo = suppressCounts({ total: 4, visitor: 3, account: 1, trusted: 0, unknown: 0 }, [sources], 3);
    expect(solo).to.deep.include({ visitor: 'withheld', account: 'fewer', total: 'withheld' });
    // A total shared by two groups: hiding it for one changes the other.
    const reasons: SumGroup = { parts: ['spam', 'other'], totals: ['total'] };
    const shared = suppressCounts({ total: 4, spam: 3, other: 1, visitor: 4, account: 0, trusted: 0, unknown: 0 }, [reasons, sources], 3);
    expect(shared).to.deep.include({ spam: 'withheld', total: 'withheld', visitor: 'shown' });
    // Zeros stay shown; with N = 1 nothing is hidden; with N = 2 "fewer than 2" already says 1, so nothing is gained.
    expect(suppressCounts({ total: 0, visitor: 0, account: 0, trusted: 0, unknown: 0 }, [sources], 3).total).to.equal('shown');
    expect(Object.values(suppressCounts({ total: 6, visitor: 5, account: 1, trusted: 0, unknown: 0 }, [sources], 1))).to.deep.equal(['shown', 'shown', 'shown', 'shown', 'shown']);
    expect(suppressCounts({ total: 6, visitor: 5, account: 1, trusted: 0, unknown: 0 }, [sources], 2)).to.deep.include({ visitor: 'shown', account: 'fewer' });
  });

  it('leaves no hidden count deducible from any group, over many random small reports', () => {
    const next = random(17);
    const keys = [...new Set(TRANSPARENCY_GROUPS.flatMap((g) => [...g.parts, ...g.totals]))];
    let withheld = 0;
    for (let round = 0; round < 3000; round++) {
      const min = [2, 3, 4, 5][Math.floor(next() * 4)]!;
      const counts: Record<string, number> = {};
      // Mostly zeros and small counts, as real half-years have.
      for (const k of keys) counts[k] = next() < 0.4 ? 0 : Math.floor(next() * (next() < 0.7 ? min : 3 * min));
      counts['sources.trusted'] = 0;
      // Make the sums hold, as the report's do.
      const sum = (ks: readonly string[]) => ks.reduce((a, k) => a + counts[k]!, 0);
      counts['reports.total'] = sum(TRANSPARENCY_GROUPS[0]!.parts);
      counts['sources.visitor'] = Math.floor(next() * (counts['reports.total']! + 1));
      counts['sources.account'] = Math.floor(next() * (counts['reports.total']! - counts['sources.visitor']! + 1));
      counts['sources.unknown'] = counts['reports.total']! - counts['sources.visitor']! - counts['sources.account']!;
      const grounds = TRANSPARENCY_GROUPS[2]!;
      for (const k of grounds.totals) counts[k] = 0;
      for (const k of grounds.parts) counts[grounds.totals[Math.floor(next() * 3)]!]! += counts[k]!;
      counts['privacy.total'] = sum(TRANSPARENCY_GROUPS[3]!.parts);
      counts['copyright.notices'] = counts['reports.reason.copyright']!;

      const state = suppressCounts(counts, TRANSPARENCY_GROUPS, min);
      const label = `round ${round}, N = ${min}: ${JSON.stringify(counts)} → ${JSON.stringify(state)}`;
      for (const k of keys) {
        // Zeros and counts from N on are never "fewer than N"; 1..N−1 always are.
        if (counts[k] === 0) expect(state[k], label).to.equal('shown');
        else if (counts[k]! < min) expect(state[k], label).to.equal('fewer');
        else expect(state[k], label).to.be.oneOf(['shown', 'withheld']);
        if (state[k] === 'withheld') withheld++;
      }
      for (const g of TRANSPARENCY_GROUPS) {
        expect(deducible(g, counts, state, min), label).to.deep.equal([]);
        const known = (k: string) => state[k] === 'shown' || (state[k] === 'fewer' && min <= 2);
        const hidden = g.parts.filter((k) => !known(k));
        if (!g.totals.every(known) || hidden.length === 0) continue;
        const left = sum(g.totals) - g.parts.filter(known).reduce((a, k) => a + counts[k]!, 0);
        expect(hidden.length, label).not.to.equal(1);
        if (hidden.every((k) => state[k] === 'fewer')) expect(left, label).not.to.be.oneOf([hidden.length, hidden.length * (min - 1)]);
      }
    }
    // The rounds did exercise the secondary suppression.
    expect(withheld).to.be.greaterThan(100);
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

  it('cuts calendar half-years in UTC and refuses malformed, future or pre-record periods', () => {
    expect(periodOf(new Date('2026-06-30T23:59:59.999Z'), now)).to.deep.include({ key: '2026-H1', current: false, label: 'January to June 2026' });
    expect(periodOf(new Date('2026-07-01T00:00:00Z'), now)).to.deep.include({ key: '2026-H2', current: true, label: 'July to December 2026 (so far)' });
    const h2 = parsePeriod('2025-H2', now, first);
    expect([h2.from.toISOString(), h2.to.toISOString()]).to.deep.equal(['2025-07-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
    expect(parsePeriod(undefined, now, first).key).to.equal('2026-H2');
    for (const bad of ['2026-H3', '2026H1', 'x', ['2026-H1'], '0050-H1', '0000-H1', '0999-H2', '10000-H1']) expect(() => parsePeriod(bad, now, first), String(bad)).to.throw(BadRequest);
    expect(() => parsePeriod('2027-H1', now, first)).to.throw(NotFound);
    // From the half-year of the first record on; with no record, only the current one.
    expect(parsePeriod('2024-H1', now, first).key).to.equal('2024-H1');
    for (const old of ['2023-H2', '1999-H1', '1000-H1']) expect(() => parsePeriod(old, now, first), old).to.throw(NotFound);
    expect(() => parsePeriod('2026-H1', now, null)).to.throw(NotFound);
    expect(parsePeriod('2026-H2', now, null).key).to.equal('2026-H2');
    // A year under 100 is never read as 19xx.
    expect(parsePeriod('1950-H1', now, new Date('1950-01-01T00:00:00Z')).from.toISOString()).to.equal('1950-01-01T00:00:00.000Z');
  });
});
