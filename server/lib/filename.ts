const MAX_DISPLAY_NAME = 200;
// C0/C1 controls, and the Unicode bidi embeddings, overrides, isolates and marks that can disguise an extension.
// eslint-disable-next-line no-control-regex -- stripping control characters is the point
export const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Turns a client-supplied file name into something safe to show: no path parts, no controls, bounded length. */
export function sanitizeDisplayName(raw: string | undefined | null): string {
  if (!raw) return '';
  const base = raw.split(/[\\/]/).pop() ?? '';
  const cleaned = base.normalize('NFC').replace(UNSAFE_CHARS, '').replace(/\s+/g, ' ').trim();
  const withoutDots = cleaned.replace(/^[.\s]+/, ''); // ". .x" must not become " .x"
  return Array.from(withoutDots).slice(0, MAX_DISPLAY_NAME).join('').trimEnd();
}
