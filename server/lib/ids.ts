import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
// 248 is the largest multiple of 62 below 256: rejecting bytes >= 248 keeps every character equally likely.
const UNBIASED_LIMIT = 248;

/** A random base62 string; each character carries log2(62) ≈ 5.95 bits. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < UNBIASED_LIMIT) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export const IMAGE_ID_LENGTH = 12; // 71.4 bits
export const DELETE_KEY_LENGTH = 24; // 142.9 bits
const IMAGE_ID_PATTERN = new RegExp(`^[0-9A-Za-z]{${IMAGE_ID_LENGTH}}$`);
const DELETE_KEY_PATTERN = new RegExp(`^[0-9A-Za-z]{${DELETE_KEY_LENGTH}}$`);

export const newImageId = (): string => randomBase62(IMAGE_ID_LENGTH);
export const newDeleteKey = (): string => randomBase62(DELETE_KEY_LENGTH);
export const isImageId = (value: string): boolean => IMAGE_ID_PATTERN.test(value);
export const isDeleteKey = (value: string): boolean => DELETE_KEY_PATTERN.test(value);
