import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { S3Settings } from './s3-settings.js';
import { guestRetentionOf, type RetentionOption } from './guest-retention.js';

const CLOUDFLARE_SITEVERIFY = 'https://challenges.cloudflare.com/turnstile/v0/siteverify';

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const integer = (min: number, max: number, fallback: number) =>
  z.coerce.number().int('must be a whole number').min(min).max(max).default(fallback);

const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      // URL reports a bare "?" or "#" as empty, and a password without a user name as no username: check the text too.
      const plain = !/[?#]/.test(v) && !u.username && !u.password;
      return (u.protocol === 'http:' || u.protocol === 'https:') && plain;
    } catch {
      return false;
    }
  }, 'must be an http(s) URL with no query, fragment or credentials');

const boolean = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z
  .object({
    PORT: integer(1, 65535, 3000),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    PUBLIC_URL: httpUrl.optional(),
    DATA_DIR: z.string().trim().min(1).default('./data'),
    DATABASE_URL: optionalString.refine(
      (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
      'must start with postgres:// (leave it unset to use the embedded SQLite database)',
    ),
    TURNSTILE_SITE_KEY: optionalString,
    TURNSTILE_SECRET_KEY: optionalString,
    TURNSTILE_VERIFY_URL: httpUrl.default(CLOUDFLARE_SITEVERIFY),
    TURNSTILE_TIMEOUT_MS: integer(100, 60_000, 5000),
    BOT_PROTECTION: z.preprocess(
      (v) => (typeof v === 'string' ? v.trim() || undefined : v),
      z.enum(['turnstile', 'altcha', 'off'], { message: 'must be turnstile, altcha or off' }).optional(),
    ),
    ALTCHA_COST: integer(1000, 1_000_000, 5000),
    MAX_UPLOAD_BYTES: integer(1024, 1024 * 1024 * 1024, 25 * 1024 * 1024),
    UPLOAD_IDLE_TIMEOUT_MS: integer(100, 600_000, 15_000),
    MAX_IMAGE_PIXELS: integer(1, 1_000_000_000, 50_000_000),
    THUMBNAIL_SIZE: integer(16, 4096, 400),
    DISPLAY_MAX_PX: integer(64, 8192, 1600),
    IMAGE_CONCURRENCY: integer(1, 64, 2),
    WEB_CONCURRENCY: integer(1, 64, 1),
    PROXY_OFFLOAD: z
      .enum(['off', 'x-accel-redirect', 'x-sendfile'], { message: 'must be off, x-accel-redirect or x-sendfile' })
      .default('off'),
    PROXY_OFFLOAD_PREFIX: z
      .string()
      .trim()
      .regex(/^\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)+$/, 'must be a path such as /_pixbin_files/ (starts and ends with /)')
      .default('/_pixbin_files/'),
    TRUST_PROXY: optionalString,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 25_000),
    BCRYPT_COST: integer(12, 15, 12),
    SESSION_IDLE_DAYS: integer(1, 3650, 90),
    SESSION_MAX_DAYS: integer(1, 3650, 180),
    MIN_AGE: integer(13, 21, 13),
    TERMS_VERSION: z.string().trim().min(1).max(64).default('2026-11-25'),
    DEFAULT_QUOTA_BYTES: integer(0, Number.MAX_SAFE_INTEGER, 1024 * 1024 * 1024),
    UNVERIFIED_QUOTA_BYTES: integer(0, Number.MAX_SAFE_INTEGER, 0),
    SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\//.test(v), 'must start with smtp:// or smtps://'),
    MAIL_FROM: z.string().trim().min(3).max(254).default('Pixbin <pixbin@localhost>'),
    STORAGE_DRIVER: z.enum(['local', 's3'], { message: 'must be local or s3' }).default('local'),
    S3_ENDPOINT: httpUrl.optional(),
    S3_REGION: z.string().trim().min(1).max(64).default('us-east-1'),
    S3_BUCKET: optionalString.refine((v) => v === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v), 'must be a bucket name: 3 to 63 of a-z 0-9 . -'),
    S3_ACCESS_KEY_ID: optionalString,
    S3_SECRET_ACCESS_KEY: optionalString,
    S3_FORCE_PATH_STYLE: boolean(false),
    S3_PREFIX: optionalString.refine(
      (v) => v === undefined || /^([A-Za-z0-9][A-Za-z0-9._-]*\/)*[A-Za-z0-9][A-Za-z0-9._-]*\/?$/.test(v),
      'must be a folder-like path such as pixbin/ (letters, digits, . _ - and /)',
    ),
    S3_REQUEST_CHECKSUM: z.enum(['when_required', 'when_supported'], { message: 'must be when_required or when_supported' }).default('when_required'),
    S3_TIMEOUT_MS: integer(500, 120_000, 10_000),
    S3_SERVE_MODE: z.enum(['proxy', 'presigned', 'public'], { message: 'must be proxy, presigned or public' }).default('proxy'),
    S3_PUBLIC_URL: httpUrl.optional(),
    S3_PRESIGN_SECONDS: integer(10, 3600, 300),
    RECOVERY_DAYS: integer(1, 365, 14),
    IP_LOG_RETENTION_DAYS: integer(1, 3650, 90),
    API_LOG_RETENTION_DAYS: integer(1, 3650, 30),
    WEBHOOK_LOG_RETENTION_DAYS: integer(1, 3650, 30),
    TRANSPARENCY_MIN_COUNT: integer(1, 1000, 5),
    ACCOUNT_PURGE_DAYS: integer(1, 365, 30),
    JOBS_ENABLED: boolean(true),
    JOBS_DISABLED: optionalString,
    JOB_SCHEDULES: optionalString,
    GUEST_RETENTION_OPTIONS: optionalString,
    GUEST_RETENTION_DEFAULT: optionalString,
    GUEST_MAX_RETENTION_DAYS: integer(0, 3650, 0),
    PAGE_VIEW_LOGGING: boolean(false),
    STAFF_REAUTH_MINUTES: integer(1, 1440, 15),
    REPEAT_INFRINGER_STRIKES: integer(0, 100, 3),
    REPEAT_INFRINGER_WINDOW_DAYS: integer(1, 3650, 365),
    BLOCKLIST_MATCH_DISTANCE: integer(0, 32, 10),
    PRIVACY_OPERATOR: optionalString.refine((v) => v === undefined || v.length <= 200, 'must be at most 200 characters'),
    PRIVACY_CONTACT: optionalString.refine((v) => v === undefined || v.length <= 254, 'must be at most 254 characters'),
    PRIVACY_INTRO: optionalString.refine((v) => v === undefined || v.length <= 20_000, 'must be at most 20000 characters'),
    PRIVACY_JURISDICTION: optionalString.refine((v) => v === undefined || v.length <= 5_000, 'must be at most 5000 characters'),
    POLICY_UPDATED: z
      .string()
      .trim()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2026-11-25')
      .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)), 'must be a real date')
      .default('2026-11-25'),
    OUTBOUND_ALLOW: optionalString.refine((v) => v === undefined || v.length <= 2000, 'must be at most 2000 characters'),
    METRICS_TOKEN: optionalString.refine((v) => v === undefined || /^[\x21-\x7e]{24,256}$/.test(v), 'must be 24 to 256 printable characters (a long random token)'),
    METRICS_LISTEN: optionalString.refine((v) => v === undefined || listenAddressOf(v) !== null, 'must be host:port or [IPv6]:port with a port from 1 to 65535, e.g. 127.0.0.1:9464 or [::1]:9464'),
    CONSENT_COUNTRY_HEADER: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9-]{1,64}$/.test(v), 'must be a header name such as CF-IPCountry'),
  })
  .superRefine((env, ctx) => {
    if (env.SESSION_MAX_DAYS < env.SESSION_IDLE_DAYS) {
      ctx.addIssue({ code: 'custom', path: ['SESSION_MAX_DAYS'], message: 'must be at least SESSION_IDLE_DAYS' });
    }
    if (env.STORAGE_DRIVER === 's3' && !env.S3_BUCKET) {
      ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'must be set when STORAGE_DRIVER=s3' });
    }
    if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
      ctx.addIssue({ code: 'custom', path: [env.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'], message: 'set both S3 keys, or neither' });
    }
    if (env.PROXY_OFFLOAD !== 'off' && env.STORAGE_DRIVER !== 'local') {
      ctx.addIssue({ code: 'custom', path: ['PROXY_OFFLOAD'], message: 'works only with STORAGE_DRIVER=local (the proxy reads the files from disk)' });
    }
    // X-Sendfile carries the file's path in a header, which HTTP limits to Latin-1 (anything else would be a 500 per image).
    if (env.PROXY_OFFLOAD === 'x-sendfile' && !/^[\x20-\x7e]*$/.test(path.resolve(env.DATA_DIR))) {
      ctx.addIssue({ code: 'custom', path: ['PROXY_OFFLOAD'], message: 'x-sendfile needs a DATA_DIR path of plain ASCII characters (it travels in a header)' });
    }
    if (env.S3_SERVE_MODE === 'public' && !env.S3_PUBLIC_URL) {
      ctx.addIssue({ code: 'custom', path: ['S3_PUBLIC_URL'], message: 'must be set when S3_SERVE_MODE=public' });
    }
    const retention = guestRetentionOf(env);
    if (typeof retention === 'string') {
      const [path, message] = retention.split(': ', 2) as [string, string];
      ctx.addIssue({ code: 'custom', path: [path], message });
    }
    if (env.TURNSTILE_SECRET_KEY && !env.TURNSTILE_SITE_KEY) {
      ctx.addIssue({ code: 'custom', path: ['TURNSTILE_SITE_KEY'], message: 'must be set when TURNSTILE_SECRET_KEY is set' });
    }
    if (env.TURNSTILE_SITE_KEY && !env.TURNSTILE_SECRET_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['TURNSTILE_SECRET_KEY'],
        message: 'must be set when TURNSTILE_SITE_KEY is set (without it uploads would not really be checked)',
      });
    }
    // An explicit choice must agree with the Turnstile keys: no guessing which of two checks protects the forms.
    const turnstileKeys = Boolean(env.TURNSTILE_SITE_KEY || env.TURNSTILE_SECRET_KEY);
    if (env.BOT_PROTECTION === 'turnstile' && !turnstileKeys) {
      ctx.addIssue({ code: 'custom', path: ['TURNSTILE_SECRET_KEY'], message: 'must be set (with TURNSTILE_SITE_KEY) when BOT_PROTECTION=turnstile' });
    }
    if ((env.BOT_PROTECTION === 'altcha' || env.BOT_PROTECTION === 'off') && turnstileKeys) {
      ctx.addIssue({
        code: 'custom',
        path: ['BOT_PROTECTION'],
        message: `is ${env.BOT_PROTECTION}, but TURNSTILE_SITE_KEY/TURNSTILE_SECRET_KEY are set: unset the Turnstile keys, or choose BOT_PROTECTION=turnstile`,
      });
    }
  });


export type Config = Readonly<{
  port: number;
  host: string;
  publicUrl: string;
  /** Derived from PUBLIC_URL: cookies are Secure and __Host- prefixed, and HSTS is sent. */
  https: boolean;
  dataDir: string;
  databaseUrl: string | undefined;
  turnstile: Readonly<{ siteKey: string; secretKey: string; verifyUrl: string; timeoutMs: number }> | null;
  /** Which check guards guests' forms: BOT_PROTECTION, or (unset) turnstile when its keys are set, else off. */
  botProtection: 'turnstile' | 'altcha' | 'off';
  /** Self-hosted proof of work (BOT_PROTECTION=altcha): PBKDF2 iterations per attempt; null unless chosen. */
  altcha: Readonly<{ cost: number }> | null;
  maxUploadBytes: number;
  /** A request body that sends nothing for this long, or under 1 kB/s over twice this, is answered 408 and cut off. */
  uploadIdleTimeoutMs: number;
  maxImagePixels: number;
  thumbnailSize: number;
  /** The display variant's longest side (share pages, link previews). */
  displayMaxPx: number;
  imageConcurrency: number;
  /** Worker processes serving HTTP (node:cluster when above 1); jobs run in one of them. */
  webConcurrency: number;
  /** Local storage only: the reverse proxy sends the bytes (X-Accel-Redirect to prefix + key, or X-Sendfile with the path). */
  proxyOffload: Readonly<{ mode: 'x-accel-redirect' | 'x-sendfile'; prefix: string }> | null;
  trustProxy: boolean | number | string;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  shutdownTimeoutMs: number;
  bcryptCost: number;
  sessionIdleDays: number;
  sessionMaxDays: number;
  minAge: number;
  termsVersion: string;
  defaultQuotaBytes: number;
  /** What an account may store before its email address is confirmed (0: no uploads until then). */
  unverifiedQuotaBytes: number;
  smtpUrl: string | undefined;
  mailFrom: string;
  storageDriver: 'local' | 's3';
  /** Set whenever S3_BUCKET is, so storage:migrate can reach the bucket before STORAGE_DRIVER switches. */
  s3: Readonly<
    S3Settings & {
      serveMode: 'proxy' | 'presigned' | 'public';
      publicUrl: string | undefined;
      presignSeconds: number;
    }
  > | null;
  recoveryDays: number;
  ipLogRetentionDays: number;
  /** Days an API request-log row (key, route, status, IP) lives before the rotate-api-log job deletes it. */
  apiLogRetentionDays: number;
  /** Days a webhook delivery and its attempts (status, response code, first 1 KB of the answer) stay in the owner's delivery log. */
  webhookLogRetentionDays: number;
  /** /transparency shows a count below this as "fewer than N" (small counts could point at people). */
  transparencyMinCount: number;
  accountPurgeDays: number;
  /** false: this process runs no scheduled jobs (another replica does). */
  jobsEnabled: boolean;
  /** Job names that never run. Validated against the job list when the scheduler starts. */
  jobsDisabled: readonly string[];
  /** Cron expressions that replace a job's default schedule, by job name. */
  jobSchedules: Readonly<Record<string, string>>;
  /** What a guest may choose for "delete after", the preselected choice, and the ceiling (0: none). */
  guestRetention: Readonly<{ options: readonly RetentionOption[]; defaultKey: string; maxDays: number }>;
  /** How recently staff must have typed their password for an action that destroys something. */
  staffReauthMinutes: number;
  /** Upheld copyright notices within windowDays that suspend an account (strikes 0: never automatically). */
  repeatInfringer: Readonly<{ strikes: number; windowDays: number }>;
  /** Bits a perceptual hash may differ from a blocklisted one and still match (0: only near-identical pixels). */
  blocklistMatchDistance: number;
  /** Log page views (with IP, to the security log) — off by default, and never for Sec-GPC: 1. */
  pageViewLogging: boolean;
  /** Hosts and CIDRs that outbound requests to user-supplied URLs may reach although private (webhooks, upload by URL). */
  outboundAllow: readonly string[];
  /** /metrics: a bearer token on the main port, and/or a separate host:port that serves it; both unset: off. */
  metrics: Readonly<{ token: string | undefined; listen: { host: string; port: number } | undefined }> | null;
  /** Header whose two-letter country goes with consent records; unset: none is recorded. */
  consentCountryHeader: string | undefined;
  /** What the operator adds to the generated privacy pages (PRIVACY_INTRO_FILE etc. read them from files). */
  policy: Readonly<{ operator: string | undefined; contact: string | undefined; intro: string | undefined; jurisdiction: string | undefined; updated: string }>;
}>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;
const KEYS = Object.keys(schema.shape) as Array<keyof typeof schema.shape>;
/** Every variable Pixbin reads; .env.example and the README's table list exactly these. */
export const CONFIG_VARIABLES: readonly string[] = KEYS;

/** Resolves FOO_FILE (Docker secrets) into FOO; setting both is an error so nobody wonders which one won. */
function readFileVariables(env: Env): Env {
  const resolved: Env = {};
  for (const key of KEYS) {
    const fileVar = `${key}_FILE`;
    const filePath = env[fileVar];
    if (filePath && env[key] !== undefined && env[key] !== '') {
      throw new ConfigError(`${key} and ${fileVar} are both set; set only one of them`);
    }
    if (filePath) {
      try {
        resolved[key] = readFileSync(filePath, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`${fileVar}: cannot read ${filePath} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    } else {
      // A blank value (PORT= in a .env or compose file) means "not set": the default applies.
      const raw = env[key];
      resolved[key] = raw !== undefined && raw.trim() === '' ? undefined : raw;
    }
  }
  return resolved;
}

function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value; // a list of addresses/subnets, or names like "loopback", as Express understands them
}

/** "name=cron expression; name=…" into a map. Expressions are checked by the scheduler against node-cron. */
function parseSchedules(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? '').split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new ConfigError(`JOB_SCHEDULES: "${part}" is not name=cron expression`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Parses the environment once. Throws ConfigError naming every variable that is wrong. */
export function loadConfig(env: Env = process.env): Config {
  const result = schema.safeParse(readFileVariables(env));
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = result.data;
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    https: publicUrl.startsWith('https:'),
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    turnstile:
      e.TURNSTILE_SECRET_KEY && e.TURNSTILE_SITE_KEY
        ? Object.freeze({
            siteKey: e.TURNSTILE_SITE_KEY,
            secretKey: e.TURNSTILE_SECRET_KEY,
            verifyUrl: e.TURNSTILE_VERIFY_URL,
            timeoutMs: e.TURNSTILE_TIMEOUT_MS,
          })
        : null,
    botProtection: e.BOT_PROTECTION ?? (e.TURNSTILE_SECRET_KEY && e.TURNSTILE_SITE_KEY ? 'turnstile' : 'off'),
    altcha: e.BOT_PROTECTION === 'altcha' ? Object.freeze({ cost: e.ALTCHA_COST }) : null,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    uploadIdleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_MS,
    maxImagePixels: e.MAX_IMAGE_PIXELS,
    thumbnailSize: e.THUMBNAIL_SIZE,
    displayMaxPx: e.DISPLAY_MAX_PX,
    imageConcurrency: e.IMAGE_CONCURRENCY,
    webConcurrency: e.WEB_CONCURRENCY,
    proxyOffload: e.PROXY_OFFLOAD === 'off' ? null : Object.freeze({ mode: e.PROXY_OFFLOAD, prefix: e.PROXY_OFFLOAD_PREFIX }),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    bcryptCost: e.BCRYPT_COST,
    sessionIdleDays: e.SESSION_IDLE_DAYS,
    sessionMaxDays: e.SESSION_MAX_DAYS,
    minAge: e.MIN_AGE,
    termsVersion: e.TERMS_VERSION,
    defaultQuotaBytes: e.DEFAULT_QUOTA_BYTES,
    unverifiedQuotaBytes: e.UNVERIFIED_QUOTA_BYTES,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    storageDriver: e.STORAGE_DRIVER,
    // Read whenever a bucket is named, so storage:migrate can reach it before the app is switched over.
    s3: e.S3_BUCKET
      ? Object.freeze({
          endpoint: e.S3_ENDPOINT?.replace(/\/+$/, ''),
          region: e.S3_REGION,
          bucket: e.S3_BUCKET,
          accessKeyId: e.S3_ACCESS_KEY_ID,
          secretAccessKey: e.S3_SECRET_ACCESS_KEY,
          forcePathStyle: e.S3_FORCE_PATH_STYLE,
          prefix: e.S3_PREFIX ? e.S3_PREFIX.replace(/\/?$/, '/') : '',
          requestChecksum: e.S3_REQUEST_CHECKSUM === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
          timeoutMs: e.S3_TIMEOUT_MS,
          serveMode: e.S3_SERVE_MODE,
          publicUrl: e.S3_PUBLIC_URL?.replace(/\/+$/, ''),
          presignSeconds: e.S3_PRESIGN_SECONDS,
        })
      : null,
    recoveryDays: e.RECOVERY_DAYS,
    ipLogRetentionDays: e.IP_LOG_RETENTION_DAYS,
    apiLogRetentionDays: e.API_LOG_RETENTION_DAYS,
    webhookLogRetentionDays: e.WEBHOOK_LOG_RETENTION_DAYS,
    transparencyMinCount: e.TRANSPARENCY_MIN_COUNT,
    accountPurgeDays: e.ACCOUNT_PURGE_DAYS,
    jobsEnabled: e.JOBS_ENABLED,
    jobsDisabled: Object.freeze((e.JOBS_DISABLED ?? '').split(',').map((n) => n.trim()).filter(Boolean)),
    jobSchedules: Object.freeze(parseSchedules(e.JOB_SCHEDULES)),
    pageViewLogging: e.PAGE_VIEW_LOGGING,
    staffReauthMinutes: e.STAFF_REAUTH_MINUTES,
    repeatInfringer: Object.freeze({ strikes: e.REPEAT_INFRINGER_STRIKES, windowDays: e.REPEAT_INFRINGER_WINDOW_DAYS }),
    blocklistMatchDistance: e.BLOCKLIST_MATCH_DISTANCE,
    policy: Object.freeze({ operator: e.PRIVACY_OPERATOR, contact: e.PRIVACY_CONTACT, intro: e.PRIVACY_INTRO, jurisdiction: e.PRIVACY_JURISDICTION, updated: e.POLICY_UPDATED }),
    consentCountryHeader: e.CONSENT_COUNTRY_HEADER,
    outboundAllow: Object.freeze((e.OUTBOUND_ALLOW ?? '').split(',').map((v) => v.trim()).filter(Boolean)),
    metrics:
      e.METRICS_TOKEN || e.METRICS_LISTEN
        ? Object.freeze({
            token: e.METRICS_TOKEN,
            listen: e.METRICS_LISTEN ? (listenAddressOf(e.METRICS_LISTEN) ?? undefined) : undefined,
          })
        : null,
    guestRetention: Object.freeze(guestRetentionOf(e) as { options: RetentionOption[]; defaultKey: string; maxDays: number }),
  });
}

/** host:port, or [IPv6]:port (the brackets dropped from host, as listen() wants it); null when malformed. */
export function listenAddressOf(value: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(value);
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? match[2]!, port };
}

const LOOPBACK_HOSTS = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

/** Problems worth one clear log line at start, though the app can run. */
/** Cloudflare's documented test secrets: they pass (1x), fail (2x) or report a spent token (3x) for any request. */
export const TURNSTILE_DUMMY_SECRETS: ReadonlySet<string> = new Set([
  '1x0000000000000000000000000000000AA',
  '2x0000000000000000000000000000000AA',
  '3x0000000000000000000000000000000AA',
]);

/** Passwords from examples and defaults (ours included); a database using one is as good as open. */
const WELL_KNOWN_PASSWORDS = new Set(['change-me', 'changeme', 'pixbin', 'postgres', 'password', 'secret', 'admin', 'root']);

export function startupWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.botProtection === 'off') {
    warnings.push(
      'TURNSTILE_SECRET_KEY is not set: guest uploads are NOT protected against bots. Set TURNSTILE_SITE_KEY and TURNSTILE_SECRET_KEY, or BOT_PROTECTION=altcha (self-hosted), before exposing Pixbin to the internet.',
    );
  }
  if (config.databaseUrl) {
    const password = decodeURIComponent(new URL(config.databaseUrl).password);
    if (WELL_KNOWN_PASSWORDS.has(password.toLowerCase())) {
      warnings.push(`DATABASE_URL uses the well-known password "${password}" (POSTGRES_PASSWORD in .env for docker compose): set a long random one before exposing the database.`);
    }
  }
  const listen = config.metrics?.listen;
  if (listen && !LOOPBACK_HOSTS.test(listen.host)) {
    warnings.push(
      `METRICS_LISTEN (${listen.host}, port ${listen.port}) answers beyond this machine, without a token: anyone who can reach that port reads the metrics. Listen on 127.0.0.1 (or [::1]) and let Prometheus reach it there, or firewall the port.`,
    );
  }
  if (config.turnstile && TURNSTILE_DUMMY_SECRETS.has(config.turnstile.secretKey)) {
    warnings.push(
      "TURNSTILE_SECRET_KEY is one of Cloudflare's test secrets: the bot check gives the same answer to everyone and protects nothing. Use your real secret in production.",
    );
  }
  return warnings;
}
