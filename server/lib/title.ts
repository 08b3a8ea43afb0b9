import { UNSAFE_CHARS } from './filename.js';

export const MAX_TITLE_CHARS = 200;

/**
 * An owner's title for an image, made safe to show: Unicode-normalised, controls and bidi overrides stripped
 * (they can disguise text), whitespace runs collapsed, trimmed. Empty means "no title". The length is counted in
 * characters (code points), after cleaning; callers refuse longer titles rather than cutting them silently.
 */
export function cleanTitle(raw: string): string {
  // Tabs and newlines become spaces before the other controls are dropped, so "a\tb" stays two words.
  return raw.normalize('NFC').replace(/\s+/g, ' ').replace(UNSAFE_CHARS, '').replace(/ {2,}/g, ' ').trim();
}

export const titleLength = (title: string): number => Array.from(title).length;
