import type { RequestHandler } from 'express';
import type { Config } from '../../config/config.js';
import { humanBytes } from '../../lib/format.js';
import { ACCEPTED_TYPES } from '../../lib/mime-sniff.js';

/** The whitelist of what every template may see. Templates never receive the config object itself. */
export function viewLocals(config: Config): RequestHandler {
  const site = Object.freeze({
    name: 'Pixbin',
    publicUrl: config.publicUrl,
    turnstileSiteKey: config.turnstile?.siteKey ?? null,
    botProtection: config.botProtection,
    maxUploadBytes: config.maxUploadBytes,
    maxUploadLabel: humanBytes(config.maxUploadBytes),
    acceptedMimes: ACCEPTED_TYPES.map((t) => t.mime).join(','),
    guestRetention: config.guestRetention,
  });
  return (_req, res, next) => {
    res.locals.site = site;
    res.locals.humanBytes = humanBytes;
    next();
  };
}
