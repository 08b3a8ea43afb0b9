import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { NotFound } from '../../errors.js';
import { databaseOutageLog } from '../../db/outage-log.js';
import { noRoomLog, storageFullLog } from '../../lib/storage-full.js';
import { isUploadRequest, noteBackendError, toPublicError, type PublicError } from '../errors.js';

/**
 * Errors under /api/v1 as RFC 9457 problem details (application/problem+json). Statuses and codes come from the
 * one mapping the whole app uses (toPublicError); the `type` links to the code's entry in the API reference.
 */
const messages = {
  noEndpoint: 'There is no such API endpoint (or it does not take this method). See /api/docs for what the API offers.',
};

/** Every code the API can answer with, what it means, and its status: the reference lists them with anchors. */
export const ERROR_CODES: ReadonlyArray<{ code: string; status: number; meaning: string }> = [
  { code: 'bad_request', status: 400, meaning: 'The request is malformed (for example, the body is not a JSON object).' },
  { code: 'invalid_field', status: 400, meaning: 'A field, query parameter or header has a value outside what is allowed; `field` names it.' },
  { code: 'missing_field', status: 400, meaning: 'A required field is missing; `field` names it.' },
  { code: 'unknown_field', status: 400, meaning: 'The body or query has a field this endpoint does not take; `field` names it.' },
  { code: 'malformed_json', status: 400, meaning: 'The body is not valid JSON.' },
  { code: 'api_key_in_query', status: 400, meaning: 'An API key was put in the URL. URLs end up in logs: revoke that key and send keys only in headers.' },
  { code: 'bad_cursor', status: 400, meaning: 'The `cursor` is not one this API handed out (cut short or edited).' },
  { code: 'title_too_long', status: 400, meaning: 'A title is longer than 200 characters.' },
  { code: 'title_required', status: 400, meaning: 'An album needs a title.' },
  { code: 'bad_webhook_url', status: 400, meaning: 'A webhook URL must be a complete http(s) address with a host, at most 2048 characters, without a user name or password.' },
  { code: 'webhook_url_not_allowed', status: 400, meaning: 'A webhook URL names a private, loopback or link-local address, which the site does not send to unless its operator lists it in `OUTBOUND_ALLOW`.' },
  { code: 'no_events', status: 400, meaning: 'A webhook endpoint must subscribe to at least one event.' },
  { code: 'bad_events', status: 400, meaning: 'An event is not one a webhook endpoint of this kind can subscribe to (see the list in the message).' },
  { code: 'description_too_long', status: 400, meaning: 'A webhook endpoint’s description is longer than 200 characters.' },
  { code: 'no_file', status: 400, meaning: 'The upload had no file in the form field `file` (and no `url`).' },
  { code: 'one_file_only', status: 400, meaning: 'Send exactly one file, in the form field `file`.' },
  { code: 'empty_file', status: 400, meaning: 'The uploaded file is empty.' },
  { code: 'malformed_upload', status: 400, meaning: 'The multipart body could not be read.' },
  { code: 'file_and_url', status: 400, meaning: 'The upload sent both a file and a `url`; send one of them.' },
  { code: 'bad_url', status: 400, meaning: 'The `url` is not an http(s) link, is longer than 2048 characters, or has a user:password part (such links are refused, never fetched or stored).' },
  { code: 'api_key_required', status: 401, meaning: 'No API key was sent. Cookies are never accepted here.' },
  { code: 'invalid_api_key', status: 401, meaning: 'The key is malformed, unknown or wrong.' },
  { code: 'api_key_revoked', status: 401, meaning: 'The key was revoked.' },
  { code: 'api_key_expired', status: 401, meaning: 'The key has passed its expiry date.' },
  { code: 'account_suspended', status: 401, meaning: 'The key’s account is suspended.' },
  { code: 'account_pending_deletion', status: 401, meaning: 'The key’s account is waiting to be deleted.' },
  { code: 'insufficient_scope', status: 403, meaning: 'The key lacks the scope this endpoint needs; `required_scope` names it.' },
  { code: 'upload_banned', status: 403, meaning: 'Uploads from your address are banned for now.' },
  { code: 'email_unverified', status: 403, meaning: 'The account must confirm its email address before it can upload (the site allows unconfirmed accounts no storage).' },
  { code: 'not_found', status: 404, meaning: 'No such endpoint, image or album, or it is not yours (the two are never told apart).' },
  { code: 'request_timeout', status: 408, meaning: 'The request body stopped arriving (nothing for `UPLOAD_IDLE_TIMEOUT_MS`, 15 s by default) or arrived at under 1 kB/s; the connection is closed. Send it again.' },
  { code: 'too_many_webhooks', status: 409, meaning: 'The account already has 10 webhook endpoints (the site 20): delete one first.' },
  { code: 'webhook_disabled', status: 409, meaning: 'The webhook endpoint is switched off: enable it before sending a test event or resending a delivery.' },
  { code: 'delivery_pending', status: 409, meaning: 'The delivery is still being tried; it can be resent once it has been delivered or has failed.' },
  { code: 'file_too_large', status: 413, meaning: 'The file (or the image a `url` leads to) is larger than the upload limit.' },
  { code: 'json_too_large', status: 413, meaning: 'The JSON body is larger than 16 kB.' },
  { code: 'quota_exceeded', status: 413, meaning: 'The account’s storage quota has no room for the image.' },
  { code: 'too_many_pixels', status: 413, meaning: 'The image has more pixels than this site accepts.' },
  { code: 'unsupported_media_type', status: 415, meaning: 'The body has the wrong Content-Type (JSON endpoints take application/json).' },
  { code: 'unsupported_charset', status: 415, meaning: 'The JSON body is not UTF-8.' },
  { code: 'unsupported_type', status: 415, meaning: 'The file is not an image type this site accepts.' },
  { code: 'svg_not_allowed', status: 415, meaning: 'SVG images are not accepted (they can carry scripts).' },
  { code: 'type_mismatch', status: 415, meaning: 'The file’s bytes do not match its declared image type.' },
  { code: 'corrupt_image', status: 422, meaning: 'The file looks like an image but cannot be decoded.' },
  { code: 'upload_refused', status: 422, meaning: 'This image cannot be uploaded here.' },
  { code: 'url_not_allowed', status: 422, meaning: 'Upload by URL: the link (or a redirect) leads to a private, local or cloud-metadata address. The operator can allow private hosts with OUTBOUND_ALLOW; metadata addresses never.' },
  { code: 'url_redirect_refused', status: 422, meaning: 'Upload by URL: the link redirected more than 3 times, or to a place that cannot be followed.' },
  { code: 'url_fetch_failed', status: 422, meaning: 'Upload by URL: the remote server answered with a status other than 2xx (the message names it), could not be reached, or its host name could not be resolved.' },
  { code: 'url_timeout', status: 422, meaning: 'Upload by URL: the remote server stopped sending (nothing for `UPLOAD_IDLE_TIMEOUT_MS`) or took longer than 60 s in all.' },
  { code: 'url_fetch_busy', status: 503, meaning: 'Upload by URL: this server is looking up too many host names at once; try again after `Retry-After`.' },
  { code: 'rate_limited', status: 429, meaning: 'Too many requests; wait `Retry-After` seconds.' },
  { code: 'storage_unavailable', status: 503, meaning: 'Image storage is not answering; try again shortly.' },
  { code: 'database_unavailable', status: 503, meaning: 'The database is not answering; try again after `Retry-After` seconds.' },
  { code: 'service_unavailable', status: 503, meaning: 'A service Pixbin depends on is down; try again shortly.' },
  { code: 'storage_full', status: 507, meaning: 'The server’s disk is full, or has too little free space left to process an image this large: not a problem with your request. Try again after `Retry-After` seconds; the operator has been told.' },
  { code: 'internal_error', status: 500, meaning: 'Something unexpected failed on the server; quote `request_id` when reporting it.' },
];

/** Unknown paths and methods under the API base. */
export const noEndpoint: RequestHandler = (_req, _res, next) => next(new NotFound(messages.noEndpoint));

function challenge(error: PublicError, keyPresented: boolean): string | null {
  if (error.status === 401) return `Bearer realm="pixbin"${keyPresented ? ', error="invalid_token"' : ''}`;
  if (error.status === 403 && error.code === 'insufficient_scope' && error.field) return `Bearer error="insufficient_scope", scope="${error.field}"`;
  return null;
}

export function problemBody(publicUrl: string, error: PublicError, requestId: string) {
  return {
    type: `${publicUrl}/api/docs#error-${error.code}`,
    title: STATUS_CODES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(error.field ? { field: error.field } : {}),
    ...(error.code === 'insufficient_scope' && error.field ? { required_scope: error.field } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** Marks that the request carried a key, so a 401 can say the token was invalid (RFC 6750). */
export const markKeyPresented = (res: Response): void => {
  res.locals.apiKeyPresented = true;
};

/**
 * The API's error pipeline: unknown errors become a generic 500 logged with the request id; never a stack or SQL.
 * A database outage (db/outage-log.ts) and a full disk (lib/storage-full.ts) are counted in the same logs as the
 * pages', not logged per request; so is an upload too large for the space left (noRoomLog).
 */
export function problemHandler(deps: { publicUrl: string; logger: Logger; routeOf: (req: Request) => string }): ErrorRequestHandler {
  const outage = databaseOutageLog(deps.logger);
  const diskFull = storageFullLog(deps.logger);
  const noRoom = noRoomLog(deps.logger);
  return (err, req, res, _next) => {
    const error = toPublicError(err, { upload: isUploadRequest(req) });
    const requestId = String(res.locals.requestId ?? '');
    noteBackendError(res, error);
    if (error.status >= 500 && !noRoom.failed(err) && !diskFull.failed(err) && !outage.failed(err)) {
      deps.logger.error({ err, requestId, method: req.method, route: deps.routeOf(req) }, 'api request failed');
    }
    if (res.headersSent) {
      // Nothing more can be said to the client: close the connection here, as errorHandler does. Passing err on
      // would have the page pipeline log and count the same error a second time.
      req.socket?.destroy();
      return;
    }
    res.status(error.status).set({ ...error.headers, 'Cache-Control': 'no-store' });
    const header = challenge(error, res.locals.apiKeyPresented === true);
    if (header) res.set('WWW-Authenticate', header);
    res.type('application/problem+json').send(JSON.stringify(problemBody(deps.publicUrl, error, requestId)));
  };
}
