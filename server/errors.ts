/**
 * Typed errors that know nothing of HTTP: every layer may throw them, and http/errors.ts alone maps a kind to a
 * status code and headers. A message is written for the person who caused the error and is safe to show.
 *
 * The error-code vocabulary: each code names one condition, and the same condition always uses the same code.
 *
 * | kind                 | code                        | when                                                              |
 * |----------------------|-----------------------------|-------------------------------------------------------------------|
 * | bad_request          | bad_request                 | a field is missing, malformed or out of range                     |
 * |                      | malformed_upload            | the multipart body cannot be read                                 |
 * |                      | too_many                    | a list (ticked images, ids) is longer than allowed                |
 * |                      | csrf_failed                 | the form's CSRF token is missing or stale                         |
 * |                      | bot_check_failed            | the Turnstile answer is missing, spent or wrong                   |
 * |                      | bad_url                     | an upload's link is not an http(s) URL, is too long, or has a user:password part |
 * |                      | file_and_url                | an upload sent both a file and a link (send one)                  |
 * |                      | aborted                     | the client went away during an upload by URL (never reaches it)   |
 * |                      | bad_webhook_url, webhook_url_not_allowed, no_events, bad_events, description_too_long | a webhook endpoint's fields |
 * | unauthorized         | login_required              | the caller must sign in                                           |
 * |                      | invalid_credentials         | a wrong username or password                                      |
 * | forbidden            | forbidden                   | signed in, but not allowed                                        |
 * |                      | reauth_required             | a destructive action needs the password typed again              |
 * |                      | account_pending_deletion    | the account waits for its purge and can only be restored          |
 * |                      | account_suspended           | moderators suspended the account                                  |
 * |                      | upload_banned               | the caller's address is under an upload ban                       |
 * | not_found            | not_found                   | missing, or not the caller's (never told apart)                   |
 * | gone                 | recovery_gone               | a deleted image can no longer be restored                         |
 * | conflict             | conflict, username_taken, … | the change clashes with the current state                         |
 * |                      | too_many_webhooks, webhook_disabled, delivery_pending | webhook endpoint limit; endpoint off; delivery still being tried |
 * | payload_too_large    | file_too_large, quota_exceeded, too_many_pixels | the upload is larger than a limit (a file or what a link serves) |
 * | unsupported_media    | unsupported_type            | the bytes are not a supported image                               |
 * | unprocessable        | corrupt_image, upload_refused, … | the request is well-formed but cannot be carried out        |
 * |                      | outbound_refused            | a user-supplied URL is refused (scheme, address, redirects, size, time) |
 * |                      | outbound_failed             | a user-supplied URL's server could not be reached                 |
 * |                      | url_not_allowed             | upload by URL: the link leads to a private, local or metadata address |
 * |                      | url_redirect_refused        | upload by URL: more than 3 redirects, or a redirect that cannot be followed |
 * |                      | url_fetch_failed            | upload by URL: the remote server answered non-2xx, or could not be reached or resolved |
 * |                      | url_timeout                 | upload by URL: the remote server stalled or took too long         |
 * | rate_limited         | rate_limited                | too many attempts; retryAfterSeconds says when to come back       |
 * | unavailable          | storage_unavailable, service_unavailable | a dependency is down; retryAfterSeconds when known  |
 * |                      | database_unavailable        | the database is not answering (db/unavailable.ts); Retry-After: 5 |
 * |                      | url_fetch_busy              | upload by URL: too many host names being looked up at once; Retry-After: 10 |
 * | insufficient_storage | storage_full                | the server's disk is full (lib/storage-full.ts): never the client's fault |
 * | internal             | internal_error              | anything unexpected (never thrown on purpose)                     |
 */
export type ErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'gone'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable'
  | 'insufficient_storage'
  | 'internal';

export class AppError extends Error {
  /** Seconds after which trying again may succeed (rate limits, outages). */
  retryAfterSeconds?: number;
  /** The request field the error is about, when there is one. */
  field?: string;
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export const messages = {
  notFound: 'Nothing here. The image may have been deleted, or the link is mistyped.',
  loginRequired: 'Please log in to do that.',
  internal: 'Something went wrong on our side. Please try again; if it keeps happening, tell the site operator.',
  malformed: 'The request could not be understood.',
  storageUnavailable: 'Image storage is not answering right now. Please try again in a minute.',
  databaseUnavailable: 'The database is not answering right now. Please try again in a moment.',
  storageFull: 'The server has run out of disk space, so it cannot take this upload right now. This is not a problem with your file: please try again later.',
  /** A full disk met by a request that is not an upload (signing in, saving settings): nothing about a file. */
  storageFullNeutral: 'The server has run out of disk space, so it cannot save this right now. This is not a problem with your request: please try again later.',
  /** An upload refused before processing: the disk has room, but not enough for this image. */
  noRoomForUpload: 'The server does not have enough free disk space to process an image this large right now. This is not a problem with your file: please try again later, or upload a smaller image.',
  tooMany: (limit: number, what = 'items') => `Choose at most ${limit} ${what} at a time.`,
} as const;

export class BadRequest extends AppError {
  constructor(message: string, code = 'bad_request', field?: string) {
    super('bad_request', code, message);
    if (field) this.field = field;
  }
}
export class Unauthorized extends AppError {
  constructor(message: string = messages.loginRequired, code = 'login_required') {
    super('unauthorized', code, message);
  }
}
export class Forbidden extends AppError {
  constructor(message: string, code = 'forbidden') {
    super('forbidden', code, message);
  }
}
export class NotFound extends AppError {
  constructor(message: string = messages.notFound, code = 'not_found') {
    super('not_found', code, message);
  }
}
export class Gone extends AppError {
  constructor(message: string, code = 'gone') {
    super('gone', code, message);
  }
}
export class Conflict extends AppError {
  constructor(message: string, code = 'conflict') {
    super('conflict', code, message);
  }
}
export class PayloadTooLarge extends AppError {
  constructor(message: string, code = 'payload_too_large') {
    super('payload_too_large', code, message);
  }
}
export class UnsupportedMediaType extends AppError {
  constructor(message: string, code = 'unsupported_media_type') {
    super('unsupported_media', code, message);
  }
}
export class Unprocessable extends AppError {
  constructor(message: string, code = 'unprocessable') {
    super('unprocessable', code, message);
  }
}
export class TooManyRequests extends AppError {
  constructor(message: string, code = 'too_many_requests', retryAfterSeconds?: number) {
    super('rate_limited', code, message);
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}
export class ServiceUnavailable extends AppError {
  constructor(message: string, code = 'service_unavailable', retryAfterSeconds?: number) {
    super('unavailable', code, message);
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}
/** The server's disk is full (507): the site operator must make room; the same request succeeds once they have. */
export class InsufficientStorage extends AppError {
  constructor(message: string = messages.storageFull, code = 'storage_full', retryAfterSeconds = 60, options: { cause?: unknown } = {}) {
    super('insufficient_storage', code, message);
    this.retryAfterSeconds = retryAfterSeconds;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}
