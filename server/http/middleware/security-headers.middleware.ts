import { randomBytes } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import helmet from 'helmet';

export const TURNSTILE_ORIGIN = 'https://challenges.cloudflare.com';

/** A fresh nonce per response, for the rare inline script; set before helmet reads it. */
export const cspNonce: RequestHandler = (_req, res, next) => {
  res.locals.cspNonce = randomBytes(16).toString('base64');
  next();
};

/**
 * Page headers: a strict CSP that admits Turnstile's origin only when Turnstile is on, and the bucket's (or its
 * CDN's) origin for images only when S3_SERVE_MODE redirects image requests there.
 */
export function securityHeaders(options: { turnstile: boolean; https: boolean; imageOrigin?: string }): RequestHandler {
  const turnstile = options.turnstile ? [TURNSTILE_ORIGIN] : [];
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as Response).locals.cspNonce as string}'`, ...turnstile],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'blob:', 'data:', ...(options.imageOrigin ? [options.imageOrigin] : [])],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        frameSrc: turnstile.length ? turnstile : ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(options.https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    referrerPolicy: { policy: 'same-origin' },
    strictTransportSecurity: options.https ? { maxAge: 31536000, includeSubDomains: false } : false,
    xFrameOptions: { action: 'deny' },
  });
}

/**
 * What every image response carries in place of the page headers' CSP and CORP. Image bytes are documents too when
 * opened directly: give them nothing to run and let other sites embed them.
 */
export const IMAGE_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'X-Content-Type-Options': 'nosniff',
});
