import { Router, type RequestHandler } from 'express';
import type { Config } from '../../config/config.js';
import { imageUrls, secretUrls } from '../../lib/urls.js';
import { verifyTurnstile } from '../../services/turnstile.service.js';
import { uploadImage, type UploadDeps } from '../../services/upload.service.js';
import { wantsJson } from '../errors.js';
import { singleImageUpload } from '../middleware/upload.middleware.js';
import { clientInfo } from '../request-info.js';

type Deps = { config: Config; upload: UploadDeps; tempDir: string };

function turnstileGuard(config: Config): RequestHandler {
  const settings = config.turnstile;
  const hostname = new URL(config.publicUrl).hostname;
  return async (req, _res, next) => {
    if (settings) {
      await verifyTurnstile(settings, { token: req.body?.['cf-turnstile-response'], remoteIp: req.ip, action: 'upload', hostname });
    }
    next();
  };
}

export function uploadRoutes(deps: Deps): Router {
  const router = Router();

  router.post(
    '/upload',
    singleImageUpload({ tempDir: deps.tempDir, maxBytes: deps.config.maxUploadBytes }),
    turnstileGuard(deps.config),
    async (req, res) => {
      const { image, deleteKey } = await uploadImage(deps.upload, {
        tempPath: req.file!.path,
        originalName: req.file!.originalname,
        ...clientInfo(req),
      });
      const secrets = secretUrls(deps.config.publicUrl, image.id, deleteKey);
      res.set('Cache-Control', 'no-store');
      if (!wantsJson(req)) {
        res.redirect(303, secrets.resultUrl);
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
