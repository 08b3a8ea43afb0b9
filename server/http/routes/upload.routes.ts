import { Router, type Request, type RequestHandler } from 'express';
import type { Config } from '../../config/config.js';
import { imageUrls, resultUrl, secretUrls } from '../../lib/urls.js';
import { handOverDeleteKey } from '../one-time-secret.js';
import { verifyTurnstile } from '../../services/turnstile.service.js';
import { uploadImage, type UploadDeps } from '../../services/upload.service.js';
import { wantsJson } from '../errors.js';
import { singleImageUpload } from '../middleware/upload.middleware.js';
import { clientInfo } from '../request-info.js';

type Deps = { config: Config; upload: UploadDeps; tempDir: string };

const TOKEN_FIELD = 'cf-turnstile-response';

/**
 * The bot check runs as soon as the file part begins when the token came first (as the upload page sends it),
 * so a bot's file is never written to disk; otherwise it runs once the form has arrived. It runs once per request.
 */
function turnstileCheck(config: Config): { early: (req: Request) => Promise<void>; guard: RequestHandler } | null {
  const settings = config.turnstile;
  if (!settings) return null;
  const hostname = new URL(config.publicUrl).hostname;
  const verified = new WeakSet<Request>();
  const verify = async (req: Request) => {
    if (verified.has(req)) return;
    await verifyTurnstile(settings, { token: req.body?.[TOKEN_FIELD], remoteIp: req.ip, action: 'upload', hostname });
    verified.add(req);
  };
  return {
    early: async (req) => {
      if (req.body?.[TOKEN_FIELD] !== undefined) await verify(req);
    },
    guard: async (req, _res, next) => {
      await verify(req);
      next();
    },
  };
}

const noCheck: RequestHandler = (_req, _res, next) => next();

export function uploadRoutes(deps: Deps): Router {
  const router = Router();

  const botCheck = turnstileCheck(deps.config);
  router.post(
    '/upload',
    singleImageUpload({ tempDir: deps.tempDir, maxBytes: deps.config.maxUploadBytes, beforeFile: botCheck?.early }),
    botCheck?.guard ?? noCheck,
    async (req, res) => {
      const { image, deleteKey } = await uploadImage(deps.upload, {
        tempPath: req.file!.path,
        originalName: req.file!.originalname,
        ...clientInfo(req),
      });
      const secrets = secretUrls(deps.config.publicUrl, image.id, deleteKey);
      res.set('Cache-Control', 'no-store');
      handOverDeleteKey(res, { id: image.id, key: deleteKey, secure: deps.config.publicUrl.startsWith('https:') });
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
      });
    },
  );

  return router;
}
