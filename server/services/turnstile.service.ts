import { TURNSTILE_DUMMY_SECRETS } from '../config/config.js';
import { BadRequest, Forbidden, ServiceUnavailable } from '../errors.js';

export type TurnstileSettings = { secretKey: string; verifyUrl: string; timeoutMs: number };
export type TurnstileCheck = { token: unknown; remoteIp: string | undefined; action: string; hostname: string };


const MAX_TOKEN_LENGTH = 2048; // Cloudflare's documented maximum

const messages = {
  missing: 'Please complete the bot check, then try again.',
  failed: 'The bot check did not pass. Please complete it again.',
  replayed: 'That bot check was already used or has expired. Please complete it again.',
  unavailable: 'The bot check could not be verified right now, so nothing was uploaded. Please try again in a minute.',
};

type SiteverifyResponse = { success?: unknown; 'error-codes'?: unknown; action?: unknown; hostname?: unknown };

async function callSiteverify(settings: TurnstileSettings, token: string, remoteIp: string | undefined): Promise<SiteverifyResponse> {
  const body = new URLSearchParams({ secret: settings.secretKey, response: token });
  if (remoteIp) body.set('remoteip', remoteIp);
  let response: Response;
  try {
    response = await fetch(settings.verifyUrl, { method: 'POST', body, signal: AbortSignal.timeout(settings.timeoutMs) });
  } catch {
    throw new ServiceUnavailable(messages.unavailable, 'turnstile_unavailable'); // timeout, DNS, refused: never fail open
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ServiceUnavailable(messages.unavailable, 'turnstile_unavailable');
  }
  let verdict: unknown;
  try {
    verdict = await response.json();
  } catch {
    verdict = null;
  }
  // Anything but a JSON object (null, an array, a string) is not an answer we can trust: never fail open.
  if (typeof verdict !== 'object' || verdict === null || Array.isArray(verdict)) {
    throw new ServiceUnavailable(messages.unavailable, 'turnstile_unavailable');
  }
  return verdict as SiteverifyResponse;
}

/** Verifies a Turnstile token server-side. Resolves only when Cloudflare said yes for this action and host. */
export async function verifyTurnstile(settings: TurnstileSettings, check: TurnstileCheck): Promise<void> {
  const token = typeof check.token === 'string' ? check.token.trim() : '';
  if (!token) throw new BadRequest(messages.missing, 'turnstile_missing');
  if (token.length > MAX_TOKEN_LENGTH) throw new Forbidden(messages.failed, 'turnstile_failed');

  const verdict = await callSiteverify(settings, token, check.remoteIp);
  const errorCodes = Array.isArray(verdict['error-codes']) ? verdict['error-codes'].map(String) : [];
  if (verdict.success !== true) {
    if (errorCodes.includes('timeout-or-duplicate')) throw new Forbidden(messages.replayed, 'turnstile_replayed');
    if (errorCodes.some((c) => c.includes('secret') || c === 'internal-error')) {
      throw new ServiceUnavailable(messages.unavailable, 'turnstile_unavailable');
    }
    throw new Forbidden(messages.failed, 'turnstile_failed');
  }
  // Cloudflare's test secrets answer hostname example.com and no action for any site, so those cannot be checked.
  if (TURNSTILE_DUMMY_SECRETS.has(settings.secretKey)) return;
  if (verdict.action !== check.action || verdict.hostname !== check.hostname) {
    throw new Forbidden(messages.failed, 'turnstile_failed');
  }
}
