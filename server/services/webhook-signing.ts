import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signing as the Standard Webhooks specification has it (https://www.standardwebhooks.com): the secret is
 * `whsec_` + base64 of random bytes, and `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256
 * of "<webhook-id>.<webhook-timestamp>.<body>">`, one per secret in force, so a receiver that knows either the old
 * or the new secret verifies a delivery during a rotation.
 */

export const SECRET_PREFIX = 'whsec_';
/** 32 bytes (256 bits), within the specification's 24 to 64. */
const SECRET_BYTES = 32;
/** After a rotation, the previous secret signs too for this long, so receivers can switch over. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export const newWebhookSecret = (): string => `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;

const keyOf = (secret: string): Buffer => Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');

/** One `v1,<signature>` entry. */
export function signature(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The secrets that sign at `now`: the current one, and the previous one while its overlap lasts. */
export function signingSecrets(endpoint: { secret: string; previousSecret: string | null; previousSecretUntil: Date | null }, now: Date): string[] {
  const previousInForce = endpoint.previousSecret !== null && endpoint.previousSecretUntil !== null && endpoint.previousSecretUntil.getTime() > now.getTime();
  return previousInForce ? [endpoint.secret, endpoint.previousSecret!] : [endpoint.secret];
}

/** The three headers of a delivery, signed with every secret in force. */
export function signedHeaders(secrets: readonly string[], messageId: string, at: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, messageId, timestamp, body)).join(' '),
  };
}
