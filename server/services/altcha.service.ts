import { randomBytes } from 'node:crypto';
import { createChallenge, verifySolution, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { AltchaSpentRepo } from '../db/altcha-spent.repo.js';
import type { AppSecretsRepo } from '../db/app-secrets.repo.js';
import { BadRequest, Forbidden } from '../errors.js';

/** The forms a challenge can be solved for; each challenge carries one, signed, and is good for that form only. */
export const BOT_ACTIONS = ['upload', 'signup', 'login', 'reset', 'report'] as const;
export type BotAction = (typeof BOT_ACTIONS)[number];
export const isBotAction = (value: unknown): value is BotAction => typeof value === 'string' && (BOT_ACTIONS as readonly string[]).includes(value);

/** PBKDF2 over SHA-256: the widget computes it with WebCrypto in a same-origin worker (no WebAssembly, no blob:). */
export const ALTCHA_ALGORITHM = 'PBKDF2/SHA-256';
/** How long a challenge may be solved and spent; spent ones are remembered this long, then purged. */
export const ALTCHA_TTL_SECONDS = 600;
/** The form field the widget fills in (its default name). */
export const ALTCHA_FIELD = 'altcha';
/** Far above a real payload (about 700 characters), so a hostile one costs no parsing. */
const MAX_PAYLOAD_LENGTH = 4096;
const SECRET_NAME = 'altcha';

export const messages = {
  missing: 'Please complete the bot check, then try again.',
  failed: 'The bot check did not pass. Please complete it again.',
  replayed: 'That bot check was already used or has expired. Please complete it again.',
};

export type AltchaDeps = { appSecrets: AppSecretsRepo; altchaSpent: AltchaSpentRepo; clock: () => Date; cost: number };

type Payload = { challenge: Challenge; solution: { counter: number; derivedKey: string } };

function decode(answer: string): Payload | null {
  try {
    const parsed = JSON.parse(Buffer.from(answer, 'base64').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { challenge, solution } = parsed as Record<string, unknown>;
    if (typeof challenge !== 'object' || challenge === null || typeof solution !== 'object' || solution === null) return null;
    const { parameters, signature } = challenge as Record<string, unknown>;
    if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters) || typeof signature !== 'string') return null;
    return parsed as Payload;
  } catch {
    return null;
  }
}

/**
 * Self-hosted proof of work (ALTCHA): challenges signed with a key kept in the database (every replica signs and
 * checks alike), bound to one form, expiring after ALTCHA_TTL_SECONDS and good for one use, which the altcha_spent
 * table records until then. Nothing is sent anywhere: verification is local.
 */
export function createAltcha(deps: AltchaDeps) {
  let key = '';
  const hmacKey = async () => (key ||= await deps.appSecrets.getOrCreate(SECRET_NAME, () => randomBytes(32).toString('base64url'), deps.clock()));

  return {
    /** A fresh challenge for one form. */
    async challenge(action: BotAction): Promise<Challenge> {
      const expiresAt = Math.floor(deps.clock().getTime() / 1000) + ALTCHA_TTL_SECONDS;
      return createChallenge({ algorithm: ALTCHA_ALGORITHM, cost: deps.cost, deriveKey, expiresAt, data: { action }, hmacSignatureSecret: await hmacKey() });
    },

    /**
     * Resolves only for a solution of a challenge this server signed, for this action, not expired, and never
     * spent before (by any replica). Spends it.
     */
    async verify(answer: unknown, action: BotAction): Promise<void> {
      const text = typeof answer === 'string' ? answer.trim() : '';
      if (!text) throw new BadRequest(messages.missing, 'bot_check_missing');
      const payload = text.length > MAX_PAYLOAD_LENGTH ? null : decode(text);
      if (!payload) throw new Forbidden(messages.failed, 'bot_check_failed');
      const { parameters, signature } = payload.challenge;
      const nowSeconds = deps.clock().getTime() / 1000;
      const expiresAt = parameters.expiresAt;
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw new Forbidden(messages.failed, 'bot_check_failed');
      if (expiresAt < nowSeconds) throw new Forbidden(messages.replayed, 'bot_check_expired');
      // Only the algorithm we issue: the signature covers it, but a forged cost must not reach the key derivation.
      if (parameters.algorithm !== ALTCHA_ALGORITHM) throw new Forbidden(messages.failed, 'bot_check_failed');
      let result: Awaited<ReturnType<typeof verifySolution>>;
      try {
        result = await verifySolution({ challenge: { parameters, signature }, solution: payload.solution, deriveKey, hmacSignatureSecret: await hmacKey() });
      } catch {
        throw new Forbidden(messages.failed, 'bot_check_failed'); // a malformed field the library would not take
      }
      if (result.expired) throw new Forbidden(messages.replayed, 'bot_check_expired');
      if (!result.verified) throw new Forbidden(messages.failed, 'bot_check_failed');
      // Solved for another form: refused, and not spent (it is of no use here, and was honestly solved).
      if (parameters.data?.action !== action) throw new Forbidden(messages.failed, 'bot_check_failed');
      const spent = await deps.altchaSpent.spend(signature as string, new Date(expiresAt * 1000));
      if (!spent) throw new Forbidden(messages.replayed, 'bot_check_replayed');
    },
  };
}

export type Altcha = ReturnType<typeof createAltcha>;
