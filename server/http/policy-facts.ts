import type { Config } from '../config/config.js';
import { DELETE_LINK_COOKIE_MINUTES } from './one-time-secret.js';
import { cookieNames } from './auth-context.js';
import { ORPHAN_GRACE_MINUTES } from '../jobs/sweep-orphans.job.js';
import { RESET_TTL_MINUTES, VERIFY_TTL_HOURS } from '../services/auth.service.js';
import { LIMITS } from '../services/rate-limits.service.js';
import { DEVICE_COOKIE_DAYS } from '../services/known-devices.service.js';

/**
 * The facts /privacy, /retention and /subprocessors are rendered from: read from the live configuration and from
 * the constants the code enforces, never typed into a template. Each number carries the name of the setting or
 * constant it comes from, and a test checks every number on the pages against them.
 */
export type Figure = { value: number; source: string };
export type Subprocessor = { name: string; purpose: string; data: string; when: string };
export type Cookie = { name: string; purpose: string; lifetime: string; figure?: Figure };

/** Who stores images: a recognisable name for the S3 endpoints people use, else its host. */
export function storageProvider(config: Pick<Config, 'storageDriver' | 's3'>): { kind: 'local' | 's3'; name: string } {
  if (config.storageDriver !== 's3' || !config.s3) return { kind: 'local', name: 'this server’s own disk' };
  const host = config.s3.endpoint ? new URL(config.s3.endpoint).hostname : 'amazonaws.com';
  const known: Array<[RegExp, string]> = [
    [/(^|\.)r2\.cloudflarestorage\.com$/, 'Cloudflare R2'],
    [/(^|\.)amazonaws\.com$/, 'Amazon S3'],
    [/(^|\.)backblazeb2\.com$/, 'Backblaze B2'],
    [/(^|\.)wasabisys\.com$/, 'Wasabi'],
    [/(^|\.)digitaloceanspaces\.com$/, 'DigitalOcean Spaces'],
  ];
  return { kind: 's3', name: known.find(([pattern]) => pattern.test(host))?.[1] ?? `an S3-compatible store at ${host}` };
}

export function policyFacts(config: Config) {
  const https = config.https;
  const names = cookieNames(https);
  const rateLimitMinutes = Math.max(...Object.values(LIMITS).map((l) => Math.max(l.duration, l.blockDuration))) / 60;
  const storage = storageProvider(config);
  const smtpHost = config.smtpUrl ? new URL(config.smtpUrl).hostname : null;
  const figure = (source: string, value: number): Figure => ({ value, source });

  const subprocessors: Subprocessor[] = [];
  if (config.turnstile) {
    subprocessors.push({
      name: 'Cloudflare, Inc. (Turnstile)',
      purpose: 'checks that uploads, sign-ups, logins and password resets come from a person',
      data: 'your IP address and signals from your browser, sent by the widget your browser loads from challenges.cloudflare.com',
      when: 'on the upload form (for guests) and the sign-up, login and password-reset forms',
    });
  }
  if (storage.kind === 's3') {
    const mode = config.s3!.serveMode;
    subprocessors.push({
      name: storage.name,
      purpose: 'stores the uploaded images',
      data:
        mode === 'presigned'
          ? 'the images and their size and type; and, because your browser fetches images from it directly, your IP address and browser when you view one'
          : 'the images and their size and type; no account data and no visitor data (Pixbin fetches the images itself)',
      when: 'whenever an image is stored or shown',
    });
    if (mode === 'public' && config.s3!.publicUrl) {
      subprocessors.push({
        name: `the image delivery network at ${new URL(config.s3!.publicUrl).hostname}`,
        purpose: 'delivers public and unlisted images to viewers',
        data: 'your IP address and browser when you view an image, as your browser fetches it from there',
        when: 'whenever a public or unlisted image is shown',
      });
    }
  }
  if (smtpHost) {
    subprocessors.push({ name: `the mail server at ${smtpHost}`, purpose: 'delivers account email (confirmation, password reset, deletion notices)', data: 'your email address, username and the message', when: 'when an account email is sent' });
  }

  const cookies: Cookie[] = [
    { name: names.session, purpose: 'keeps you logged in (only set when you log in)', lifetime: 'until you log out, at most', figure: figure('SESSION_MAX_DAYS', config.sessionMaxDays) },
    { name: names.csrf, purpose: 'protects forms against cross-site request forgery', lifetime: 'until you close the browser' },
    {
      name: names.device,
      purpose:
        'remembers that this browser has logged in to your account before (only set when you log in; it holds a random id, when it was issued, a counter and a signature, not your name), so that strangers who keep failing to log in to your account cannot lock this browser out; it stays when you log out, and stops counting when you change or reset your password or sign out your other devices',
      lifetime: 'renewed at each login, kept for',
      figure: figure('DEVICE_COOKIE_DAYS', DEVICE_COOKIE_DAYS),
    },
    { name: 'pixbin_delete_<image id>', purpose: 'shows a guest the delete link once, right after an upload', lifetime: 'cleared when shown, or after at most', figure: figure('DELETE_LINK_COOKIE_MINUTES', DELETE_LINK_COOKIE_MINUTES) },
  ];

  // Which bot check guards guests' forms, and what it sends where (BOT_PROTECTION).
  const botProtection = {
    kind: config.botProtection,
    summary: {
      turnstile:
        'Guest uploads and the sign-up, login, password-reset and report forms are checked by Cloudflare Turnstile: the widget your browser loads from challenges.cloudflare.com sends your IP address and signals from your browser to Cloudflare, which tells this site whether you look like a person.',
      altcha:
        'Guest uploads and the sign-up, login, password-reset and report forms are checked by ALTCHA, which runs on this server alone: your browser fetches a small puzzle from this site, solves it (a second or so of computing) and sends the answer with the form. Nothing is sent to anyone else, no cookie is set, and only the puzzle’s signature is kept, until the puzzle expires ten minutes after it was issued, so that an answer cannot be used twice. Without JavaScript the puzzle cannot be solved, and these forms cannot be sent.',
      off: 'No bot check runs on this site’s forms.',
    }[config.botProtection],
  };

  const guest = config.guestRetention;
  return {
    operator: config.policy,
    updated: config.policy.updated,
    version: config.termsVersion,
    storage,
    subprocessors,
    cookies,
    turnstile: config.turnstile !== null,
    botProtection,
    smtp: smtpHost !== null,
    pageViews: config.pageViewLogging,
    // Private destinations webhooks and upload by URL may reach (OUTBOUND_ALLOW); everything else private is refused.
    outboundAllow: config.outboundAllow,
    consentCountry: config.consentCountryHeader !== undefined,
    retention: {
      ipLog: figure('IP_LOG_RETENTION_DAYS', config.ipLogRetentionDays),
      apiLog: figure('API_LOG_RETENTION_DAYS', config.apiLogRetentionDays),
      webhookLog: figure('WEBHOOK_LOG_RETENTION_DAYS', config.webhookLogRetentionDays),
      accountPurge: figure('ACCOUNT_PURGE_DAYS', config.accountPurgeDays),
      recovery: figure('RECOVERY_DAYS', config.recoveryDays),
      sessionIdle: figure('SESSION_IDLE_DAYS', config.sessionIdleDays),
      sessionMax: figure('SESSION_MAX_DAYS', config.sessionMaxDays),
      guestMax: guest.maxDays > 0 ? figure('GUEST_MAX_RETENTION_DAYS', guest.maxDays) : null,
      // "1h" → 1 hour: the number marked as coming from GUEST_RETENTION_OPTIONS.
      guestOptions: guest.options.map((o) => {
        const match = /^(\d+)([hd])$/.exec(o.key);
        return match ? { figure: figure('GUEST_RETENTION_OPTIONS', Number(match[1])), unit: match[2] === 'h' ? 'hour' : 'day' } : { figure: null, unit: null };
      }),
      verifyLinkHours: figure('VERIFY_TTL_HOURS', VERIFY_TTL_HOURS),
      resetLinkMinutes: figure('RESET_TTL_MINUTES', RESET_TTL_MINUTES),
      rateLimitMinutes: figure('rate limit windows', rateLimitMinutes),
      orphanGraceMinutes: figure('ORPHAN_GRACE_MINUTES', ORPHAN_GRACE_MINUTES),
    },
    security: {
      bcryptCost: figure('BCRYPT_COST', config.bcryptCost),
      https,
    },
  };
}

export type PolicyFacts = ReturnType<typeof policyFacts>;
