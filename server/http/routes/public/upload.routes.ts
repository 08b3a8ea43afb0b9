import { createRequire } from 'node:module';
import path from 'node:path';
import { callerOf, requestUser } from '../../auth-context.js';
import type { RouteDeps } from '../../route-deps.js';
import { Router, type Request, type RequestHandler } from 'express';
import type { Config } from '../../../config/config.js';
import { imageUrls, resultUrl, secretUrls } from '../../../lib/urls.js';
import { handOverDeleteKey } from '../../one-time-secret.js';
import { botCheckFor, isBotAction } from '../../../services/bot-check.service.js';
import { admitUpload, uploadImage } from '../../../services/upload.service.js';
import { uploadFromUrl, urlUploadDeps } from '../../../services/url-upload.service.js';
import { BadRequest } from '../../../errors.js';
import { wantsJson } from '../../errors.js';
import { checked, field } from '../../form-fields.js';
import { abortOnClientGone, singleImageUpload } from '../../middleware/upload.middleware.js';
import { clientInfo } from '../../request-info.js';

const messages = {
  badExpiry: (retention: Config['guestRetention']) => `Choose when the image deletes itself from the offered times (${retention.options.map((o) => o.key).join(', ')}).`,
  fileAndUrl: 'Send either a file or a link, not both. Clear one of them and try again.',
  nothing: 'No image was attached. Choose an image file, or paste a link to one, and try again.',
};

type Deps = Pick<RouteDeps, 'clock' | 'config' | 'csrf' | 'limits' | 'repos' | 'tempDir' | 'upload' | 'outbound' | 'guestOutbound'>;

/**
 * The bot check runs as soon as the file part begins when its answer came first (as the upload page sends it), so a
 * bot's file is never written to disk; otherwise it runs once the form has arrived. It runs once per request.
 */
function guestBotCheck(deps: Deps): { early: (req: Request) => Promise<void>; verify: (req: Request) => Promise<void> } | null {
  const botCheck = botCheckFor(deps);
  const fieldName = botCheck.field;
  if (fieldName === null) return null;
  const hostname = new URL(deps.config.publicUrl).hostname;
  const verified = new WeakSet<Request>();
  const verify = async (req: Request) => {
    if (verified.has(req)) return;
    await botCheck.verify({ answer: req.body?.[fieldName], remoteIp: req.ip, action: 'upload', hostname });
    verified.add(req);
  };
  return {
    early: async (req) => {
      if (req.body?.[fieldName] !== undefined) await verify(req);
    },
    verify,
  };
}

// The widget's own files, served from the installed package (pinned in package.json), never from a CDN: the ES
// module build without bundled workers, its stylesheet, and the PBKDF2 worker it runs in (a same-origin script, so
// the CSP needs no blob: or WebAssembly allowance).
const WIDGET_ROOT = path.resolve(path.dirname(createRequire(import.meta.url).resolve('altcha')), '..', '..');
const WIDGET_FILES: Readonly<Record<string, string>> = Object.freeze({
  'altcha.js': 'dist/external/altcha.min.js',
  'altcha.css': 'dist/external/altcha.css',
  'pbkdf2.js': 'dist/workers/pbkdf2.js',
});

/**
 * ALTCHA, when BOT_PROTECTION=altcha: GET /altcha/challenge?action=upload answers a fresh signed challenge for that
 * form (never cached), and /static/altcha/* serves the widget. Both answer 404 with any other bot protection. They
 * live here, with the upload they guard first, so no other route file needs them.
 */
function altchaRoutes(deps: Pick<RouteDeps, 'clock' | 'config' | 'limits' | 'repos'>): Router {
  const router = Router();
  const botCheck = botCheckFor(deps);
  if (botCheck.kind !== 'altcha') return router;

  router.get('/altcha/challenge', async (req, res) => {
    const action = req.query.action;
    if (!isBotAction(action)) throw new BadRequest('Ask for a challenge for one of the forms: upload, signup, login, reset or report.', 'bad_action');
    await deps.limits.consume('altchaChallengePerIp', req.ip ?? 'unknown');
    const challenge = await botCheck.challenge(action);
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex' }).json(challenge);
  });

  router.get('/static/altcha/:file', (req, res, next) => {
    if (!Object.hasOwn(WIDGET_FILES, req.params.file)) return next();
    res.sendFile(path.join(WIDGET_ROOT, WIDGET_FILES[req.params.file] as string), { maxAge: '1d', headers: { 'X-Content-Type-Options': 'nosniff' } });
  });

  return router;
}

/** The deletion time a guest chose (or the operator's default), refusing anything not offered. */
export function guestExpiry(retention: Config['guestRetention'], chosen: string, now: Date): Date | null {
  const key = chosen || retention.defaultKey;
  const option = retention.options.find((o) => o.key === key);
  if (!option) throw new BadRequest(messages.badExpiry(retention), 'bad_expiry');
  return option.hours === null ? null : new Date(now.getTime() + option.hours * 3_600_000);
}

/**
 * Guests prove they are human with the bot check (Turnstile or ALTCHA); a signed-in account is its own gate, and
 * instead proves the request came from its own pages with the CSRF token, which must be the first form field (or the
 * X-CSRF-Token header) so a forged request is refused before a byte of its file is written.
 */
export function uploadRoutes(deps: Deps): Router {
  const router = Router();
  const botCheck = guestBotCheck(deps);
  router.use(altchaRoutes(deps)); // ALTCHA's challenges and widget files (nothing unless BOT_PROTECTION=altcha)
  // OUTBOUND_ALLOW opens private addresses to accounts' links only: a guest's link reaches public addresses.
  const urlUploads = urlUploadDeps(deps);
  const guestUrlUploads = urlUploadDeps({ ...deps, outbound: deps.guestOutbound, guests: true });

  // Before the body is read: rate limits, a full account, bans (the same gate as the API's).
  const gate: RequestHandler = async (req, _res, next) => {
    await admitUpload(deps.upload, deps.limits, { user: requestUser(req), ...clientInfo(req) });
    next();
  };
  const beforeFile = async (req: Request) => {
    // A link sent before the file: refused before a byte of the file is written.
    if (field(req, 'url').trim() !== '') throw new BadRequest(messages.fileAndUrl, 'file_and_url');
    if (callerOf(req).kind === 'session') deps.csrf.check(req); // CSRF binds browser sessions; a guest has none
    else await botCheck?.early(req);
  };
  const afterForm: RequestHandler = async (req, _res, next) => {
    if (callerOf(req).kind === 'session') deps.csrf.check(req); // CSRF binds browser sessions; a guest has none
    else await botCheck?.verify(req);
    next();
  };

  router.post(
    '/upload',
    gate,
    singleImageUpload({ tempDir: deps.tempDir, maxBytes: deps.config.maxUploadBytes, beforeFile, fileOptional: true }),
    afterForm,
    async (req, res) => {
      const url = field(req, 'url').trim();
      if (req.file && url) throw new BadRequest(messages.fileAndUrl, 'file_and_url');
      if (!req.file && !url) throw new BadRequest(messages.nothing, 'no_file');
      const input = {
        ownerId: requestUser(req)?.id ?? null,
        // Guests choose when their upload deletes itself; an account's images stay until their owner deletes them.
        expiresAt: requestUser(req) ? null : guestExpiry(deps.config.guestRetention, field(req, 'expires'), deps.upload.clock()),
        ...clientInfo(req),
      };
      const { image, deleteKey } = req.file
        ? await uploadImage(deps.upload, { ...input, tempPath: req.file.path, originalName: req.file.originalname })
        : await uploadFromUrl(input.ownerId === null ? guestUrlUploads : urlUploads, { ...input, url, keepSource: field(req, 'keep_source') === '1' || checked(req, 'keep_source'), signal: abortOnClientGone(res) });
      const secrets = secretUrls(deps.config.publicUrl, image.id, deleteKey);
      res.set('Cache-Control', 'no-store');
      handOverDeleteKey(res, { id: image.id, key: deleteKey, secure: deps.config.https });
      if (!wantsJson(req)) {
        res.redirect(303, resultUrl(deps.config.publicUrl, image.id));
        return;
      }
      res.status(201).json({
        id: image.id,
        ...imageUrls(deps.config.publicUrl, image),
        deleteUrl: secrets.deleteUrl,
        width: image.width,
        height: image.height,
        size: image.size,
        mime: image.mime,
        expiresAt: image.expiresAt?.toISOString() ?? null,
      });
    },
  );

  return router;
}
