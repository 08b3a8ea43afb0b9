import { Router, type Request, type Response } from 'express';
import type { ImageRecord } from '../../../db/images.repo.js';
import { AppError } from '../../../errors.js';
import { isImageId } from '../../../lib/ids.js';
import { displayUrl, imageUrls } from '../../../lib/urls.js';
import { GUEST } from '../../../services/caller.js';
import { findImage } from '../../../services/images.service.js';
import type { RouteDeps } from '../../route-deps.js';

/** How long a consumer may keep an answer (oEmbed cache_age, and the response's Cache-Control), in seconds. */
export const OEMBED_CACHE_AGE = 3600;
const OEMBED_HTTP_MAX_AGE = 300;
const PROVIDER_NAME = 'Pixbin';
/** A positive whole number of pixels; nine digits is far past any screen and keeps the arithmetic exact. */
const PIXELS = /^[1-9][0-9]{0,8}$/;

const messages = {
  urlMissing: 'Give the share page address as url, e.g. /oembed?url=<share page URL>.',
  once: (name: string) => `Give ${name} once.`,
  pixels: (name: string) => `${name} must be a positive whole number of pixels.`,
  format: 'Only format=json is supported.',
  notFound: 'There is no embeddable image at that address.',
};

type Size = { width: number; height: number };
type Candidate = Size & { url: string };

/** Scales a size down (never up), keeping its proportions, so it fits within max; each side stays at least 1 px. */
function fitWithin(size: Size, max: { width?: number; height?: number }): Size {
  const scale = Math.min(1, (max.width ?? Infinity) / size.width, (max.height ?? Infinity) / size.height);
  if (scale >= 1) return { width: size.width, height: size.height };
  const fit = (side: number, limit: number | undefined) => Math.max(1, Math.min(limit ?? Infinity, Math.round(side * scale)));
  return { width: fit(size.width, max.width), height: fit(size.height, max.height) };
}

const fits = (size: Size, max: { width?: number; height?: number }) => size.width <= (max.width ?? Infinity) && size.height <= (max.height ?? Infinity);

/**
 * The picture an embed shows: the display variant, its numbers scaled to fit max (the URL stays; the numbers tell
 * the consumer how big to show it). An image whose display variant is not made yet (the backfill runs later) shows
 * the original if it fits, else the thumbnail, scaled down if even that does not fit.
 */
function embeddedPicture(publicUrl: string, image: ImageRecord, max: { width?: number; height?: number }): Candidate {
  const display = displayUrl(publicUrl, image);
  const urls = imageUrls(publicUrl, image);
  let picked: Candidate;
  if (display && image.displayWidth !== null && image.displayHeight !== null) picked = { url: display, width: image.displayWidth, height: image.displayHeight };
  else if (fits(image, max)) picked = { url: urls.url, width: image.width, height: image.height };
  else picked = { url: urls.thumbnailUrl, width: image.thumbWidth, height: image.thumbHeight };
  return { url: picked.url, ...fitWithin(picked, max) };
}

/** The image id in a share page address of this instance (PUBLIC_URL + /i/<id>, nothing after it), else null. */
function shareIdOf(publicUrl: string, value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  // Strict: no query, fragment, credentials or trailing slash; URL() normalises only host case, a default port and dot segments.
  if (/[?#]/.test(value) || url.username || url.password) return null;
  const prefix = new URL(`${publicUrl}/i/`).href;
  if (!url.href.startsWith(prefix)) return null;
  const id = url.href.slice(prefix.length);
  return isImageId(id) ? id : null;
}

/**
 * Whether /oembed answers for an image: anyone with the link sees it (public or unlisted, since an unlisted link
 * is its own secret), it is served (not hidden, bytes present), and a moderator did not mark it sensitive (an
 * embed would show it without the share page's warning, as its link preview does not).
 */
const isEmbeddable = (image: Pick<ImageRecord, 'visibility' | 'moderationState' | 'missingSince'>): boolean =>
  image.visibility !== 'private' && image.moderationState === null && !image.missingSince;

class OembedError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function oneParam(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new OembedError(400, 'bad_request', messages.once(name));
  return value;
}

function pixels(req: Request, name: string): number | undefined {
  const value = oneParam(req, name);
  if (value === undefined) return undefined;
  if (!PIXELS.test(value)) throw new OembedError(400, 'bad_request', messages.pixels(name));
  return Number(value);
}

/**
 * GET /oembed (https://oembed.com): a photo answer for a share page of this instance. Always JSON, errors included,
 * whatever the Accept header; any origin may read it (consumers fetch it from servers and from browsers, it needs no
 * cookie and answers the same to everyone: it is read as a guest, so an owner's own private image is 404 here too).
 */
export function oembedRoutes(deps: Pick<RouteDeps, 'config' | 'repos'>): Router {
  const router = Router();
  const { publicUrl } = deps.config;

  const fail = (res: Response, status: number, code: string, message: string) => {
    res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message } });
  };

  router.get('/oembed', async (req, res) => {
    res.set({ 'Access-Control-Allow-Origin': '*', 'X-Robots-Tag': 'noindex' });
    // Any other failure (the database not answering) reaches the error handler, which answers JSON for this route too.
    res.locals.alwaysJson = true;
    try {
      const max = { width: pixels(req, 'maxwidth'), height: pixels(req, 'maxheight') };
      const format = oneParam(req, 'format');
      if (format !== undefined && format !== 'json') throw new OembedError(501, 'format_not_implemented', messages.format);
      const url = oneParam(req, 'url');
      if (!url) throw new OembedError(400, 'bad_request', messages.urlMissing);
      const id = shareIdOf(publicUrl, url);
      if (!id) throw new OembedError(404, 'not_found', messages.notFound);
      const image = await findImage(deps.repos, id, GUEST);
      if (!isEmbeddable(image)) throw new OembedError(404, 'not_found', messages.notFound);
      const picture = embeddedPicture(publicUrl, image, max);
      const thumbnail = fitWithin({ width: image.thumbWidth, height: image.thumbHeight }, max);
      const author = image.visibility === 'public' && image.ownerId ? await publicProfileOf(deps, image.ownerId) : null;
      // Shared caches keep the answer briefly: an image made private or hidden must not stay announced for the hour
      // that cache_age suggests to consumers (its bytes are refused at once either way).
      res.set('Cache-Control', `public, max-age=${OEMBED_HTTP_MAX_AGE}`).json({
        version: '1.0',
        type: 'photo',
        url: picture.url,
        width: picture.width,
        height: picture.height,
        title: image.title || image.originalName || `Image ${image.id}`,
        ...(author ? { author_name: author, author_url: `${publicUrl}/u/${encodeURIComponent(author)}` } : {}),
        provider_name: PROVIDER_NAME,
        provider_url: `${publicUrl}/`,
        thumbnail_url: imageUrls(publicUrl, image).thumbnailUrl,
        thumbnail_width: thumbnail.width,
        thumbnail_height: thumbnail.height,
        cache_age: OEMBED_CACHE_AGE,
      });
    } catch (err) {
      if (err instanceof OembedError) return fail(res, err.status, err.code, err.message);
      if (err instanceof AppError && err.kind === 'not_found') return fail(res, 404, 'not_found', messages.notFound);
      throw err;
    }
  });

  return router;
}

/** The username shown as author_name: only an account whose /u/<name> profile is up (not suspended or leaving). */
async function publicProfileOf(deps: Pick<RouteDeps, 'repos'>, ownerId: string): Promise<string | null> {
  const user = await deps.repos.users.findById(ownerId);
  return user && !user.deletionRequestedAt && !user.suspendedAt ? user.username : null;
}
