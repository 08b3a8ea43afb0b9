import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * Links, cookies and the Turnstile hostname check are all built from PUBLIC_URL. When browsers reach Pixbin under
 * another host the setting is almost certainly wrong: say so once, naming it, instead of failing in odd ways.
 */
export function publicUrlCheck(publicUrl: string, logger: Logger): RequestHandler {
  const expected = new URL(publicUrl).host.toLowerCase();
  let warned = false;
  return (req, _res, next) => {
    const host = req.get('host')?.toLowerCase();
    if (!warned && host && host !== expected && req.path !== '/healthz' && req.path !== '/readyz') {
      warned = true;
      logger.warn({ expected, seen: host.slice(0, 255) }, `PUBLIC_URL is ${publicUrl} but a browser reached Pixbin as ${host.slice(0, 255)}: links and cookies will point to the wrong place. Set PUBLIC_URL to the address people use.`);
    }
    next();
  };
}
