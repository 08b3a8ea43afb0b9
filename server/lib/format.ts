const UNITS = ['B', 'KB', 'MB', 'GB'];

/** 1536 → "1.5 KB" (binary multiples, as file managers show them). */
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

const MULTIPLIERS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/**
 * "500 MB" → 524288000, the inverse of humanBytes (binary multiples; "MiB" and a bare number of bytes are accepted
 * too). Anything else, a negative size, or one beyond what is safely countable is null.
 */
export function parseByteSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|[kmgt](?:i?b)?)?\s*$/i.exec(text.slice(0, 40));
  if (!match) return null;
  const unit = (match[2] ?? 'b').toLowerCase().replace('i', '');
  const multiplier = MULTIPLIERS[unit.endsWith('b') ? unit : `${unit}b`];
  if (!multiplier) return null;
  const bytes = Math.round(Number(match[1]) * multiplier);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
