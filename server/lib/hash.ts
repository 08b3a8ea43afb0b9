import { createHash, timingSafeEqual } from 'node:crypto';

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compares a presented secret with a stored SHA-256 hex digest without leaking timing. */
export function secretMatchesHash(secret: string, storedHashHex: string): boolean {
  // Buffer.from(…, 'hex') silently drops an odd last digit and everything after a non-hex one, so check the shape first.
  if (!SHA256_HEX.test(storedHashHex)) return false;
  const presented = createHash('sha256').update(secret).digest();
  return timingSafeEqual(presented, Buffer.from(storedHashHex, 'hex'));
}
