/**
 * How the transparency report hides small counts: each one alone ("fewer than N"), and then any figure that would let
 * a hidden one be worked out from a total it belongs to (complementary suppression).
 */

/** 0, "fewer than N" for 1..N-1, or the number. */
export function suppressed(n: number, min: number): { value: number | null; display: string } {
  if (n === 0 || n >= min) return { value: n, display: String(n) };
  return { value: null, display: `fewer than ${min}` };
}

/** Cells whose sum is known: parts add up to the sum of totals (keys are section.figure). */
export type SumGroup = { parts: readonly string[]; totals: readonly string[] };
/** How a count is shown: as is, "fewer than N" (1..N−1), or withheld because it would reveal a smaller one. */
export type CellState = 'shown' | 'fewer' | 'withheld';

/**
 * Complementary suppression. A group's hidden cells are worked out when its totals are known exactly and one is
 * hidden alone, or their hidden sum L is the least or the most they can add up to ("fewer than N" is 1..N−1, a
 * withheld count N or more, as 0 is always shown). Until no group allows that, the smallest shown non-zero part of
 * such a group is withheld, or one of its totals when no part is left; groups share totals, so it runs to a fixpoint.
 */
export function suppressCounts(counts: Readonly<Record<string, number>>, groups: readonly SumGroup[], min: number): Record<string, CellState> {
  const state: Record<string, CellState> = {};
  for (const [key, n] of Object.entries(counts)) state[key] = n === 0 || n >= min ? 'shown' : 'fewer';
  const n = (key: string) => counts[key] ?? 0;
  // With N = 2, "fewer than 2" already says 1: such a cell is known exactly.
  const known = (key: string) => state[key] !== 'withheld' && (state[key] !== 'fewer' || min <= 2);
  const smallestShown = (keys: readonly string[]) => keys.filter((k) => state[k] === 'shown' && n(k) > 0).sort((a, b) => n(a) - n(b))[0];
  for (let changed = true; changed; ) {
    changed = false;
    for (const g of groups) {
      if (!g.totals.every(known)) continue;
      const hidden = g.parts.filter((k) => !known(k));
      if (hidden.length === 0) continue;
      const left = g.totals.reduce((a, k) => a + n(k), 0) - g.parts.filter(known).reduce((a, k) => a + n(k), 0);
      const least = hidden.reduce((a, k) => a + (state[k] === 'fewer' ? 1 : min), 0);
      const most = hidden.every((k) => state[k] === 'fewer') ? hidden.length * (min - 1) : Infinity;
      if (hidden.length !== 1 && left !== least && left !== most) continue;
      const next = smallestShown(g.parts) ?? smallestShown(g.totals);
      if (next === undefined) continue;
      state[next] = 'withheld';
      changed = true;
    }
  }
  return state;
}
