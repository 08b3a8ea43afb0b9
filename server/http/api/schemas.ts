import { z } from 'zod';
import { VISIBILITIES } from '../../db/images.repo.js';
import { API_SCOPES } from '../../services/caller.js';
import { MAX_URL_LENGTH } from '../../services/url-upload.service.js';

/**
 * The API's zod schemas: request schemas validate input at the edge (strict: an unknown field is a 400), and
 * together with the answer schemas they generate the OpenAPI document. Fields are snake_case; times ISO 8601 UTC.
 */
const MAX_PAGE = 100;
const MAX_OFFSET = 1_000_000;
/** Loose outer bounds; the services clean titles and enforce the exact limit (200 characters). */
const MAX_RAW_TITLE = 1000;

const time = (description: string) => z.string().meta({ format: 'date-time', description, example: '2026-01-02T03:04:05.000Z' });
const link = (description: string) => z.string().meta({ format: 'uri', description });

export const VisibilitySchema = z.enum(VISIBILITIES as [string, ...string[]]).meta({ id: 'Visibility', description: 'public: listed on the profile; unlisted: anyone with the link; private: only the owner.' });

// --- Path parameters (a malformed id answers 404, like a missing one) ---

const imageId = z.string().regex(/^[0-9A-Za-z]{12}$/).meta({ description: 'An image id (12 letters and digits).', example: 'aB3dE5fG7hJ9' });
const albumId = z.string().regex(/^[0-9A-Za-z]{16}$/).meta({ description: 'An album id (16 letters and digits).', example: 'Q1w2E3r4T5y6U7i8' });

export const ImageParams = z.object({ id: imageId });
export const AlbumParams = z.object({ id: albumId });
export const AlbumImageParams = z.object({ id: albumId, image_id: imageId });

// --- Query strings ---

// Query values arrive as text and are coerced. The document's schema is spelled out: generated from a coercion
// it would say null is allowed.
// Plain decimal digits only: Number() would also take "0x10", "1e2" and " 5 ".
const whole = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const limit = (fallback: number) => whole(1, MAX_PAGE).default(fallback).meta({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: fallback, description: `Page size, 1 to ${MAX_PAGE}.` });

export const ListImagesQuery = z.strictObject({
  limit: limit(50),
  cursor: z.string().max(128).optional().meta({ description: 'The next_cursor of the previous page; leave out for the first page.' }),
  q: z.string().max(100).optional().meta({ description: 'Only images whose title or file name contains this text (case-insensitive).' }),
});

export const AlbumQuery = z.strictObject({
  limit: limit(50),
  offset: whole(0, MAX_OFFSET).default(0).meta({ type: 'integer', minimum: 0, maximum: MAX_OFFSET, default: 0, description: 'How many of the album’s images (newest first) to skip.' }),
});

// --- Bodies ---

export const UploadFields = z.strictObject({
  title: z.string().max(MAX_RAW_TITLE).optional().meta({ description: 'A title (at most 200 characters after cleaning); empty for none.' }),
  visibility: VisibilitySchema.default('unlisted'),
  album: z.string().regex(/^[0-9A-Za-z]{16}$/, 'an album id is 16 letters and digits').optional().meta({ description: 'The id of one of your albums to add the image to; 404 if it is not yours.' }),
  url: z
    .string()
    .max(MAX_URL_LENGTH)
    .optional()
    .meta({ format: 'uri', description: `Upload by URL instead of \`file\` (send one of the two): an http(s) link to an image, at most ${MAX_URL_LENGTH} characters, fetched by the server.` }),
  // A JSON boolean, or a form field's text ("true"/"false", "1"/"0").
  keep_source: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
    .transform((v) => v === true || v === 'true' || v === '1')
    .optional()
    .meta({ type: 'boolean', default: false, description: 'With `url`: keep the link with the image, as its `source_url` (shown on its page). Off by default: the link is not stored.' }),
});

export const PatchImageBody = z
  .strictObject({
    title: z.string().max(MAX_RAW_TITLE).nullable().optional().meta({ description: 'The new title; null or "" removes it.' }),
    visibility: VisibilitySchema.optional(),
  })
  .refine((b) => b.title !== undefined || b.visibility !== undefined, { message: 'Send at least one of "title" and "visibility".' })
  .meta({ id: 'ImageChanges' });

export const AlbumBody = z.strictObject({ title: z.string().max(MAX_RAW_TITLE).meta({ description: 'The album’s title, 1 to 200 characters.' }) }).meta({ id: 'AlbumTitle' });

// --- Answers ---

export const ImageSchema = z
  .object({
    id: z.string(),
    page_url: link('The image’s page.'),
    url: link('The image file itself (paste this where a bare image link is wanted).'),
    thumbnail_url: link('A WebP thumbnail.'),
    delete_url: link('A page that deletes the image (confirm button). Only in the answer to the upload: the key behind it is never shown again.').nullable(),
    width: z.int(),
    height: z.int(),
    size: z.int().meta({ description: 'Bytes of the stored image.' }),
    mime: z.string().meta({ example: 'image/png' }),
    visibility: VisibilitySchema,
    title: z.string().nullable(),
    created_at: time('When it was uploaded.'),
    expires_at: time('When it deletes itself; null: never.').nullable(),
    source_url: link('The link an upload by URL came from, when its uploader chose to keep it (`keep_source`); null otherwise.').nullable(),
  })
  .meta({ id: 'Image' });

export const ImageListSchema = z
  .object({ data: z.array(ImageSchema), next_cursor: z.string().nullable().meta({ description: 'Pass as ?cursor= for the next page; null on the last page.' }) })
  .meta({ id: 'ImageList' });

export const AlbumSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    url: link('The album’s share page.'),
    image_count: z.int(),
    cover_image_id: z.string().nullable(),
    created_at: time('When it was created.'),
  })
  .meta({ id: 'Album' });

export const AlbumImageSchema = z
  .object({
    id: z.string(),
    page_url: link('The image’s page.'),
    url: link('The image file.'),
    thumbnail_url: link('A WebP thumbnail.'),
    width: z.int(),
    height: z.int(),
    mime: z.string(),
    visibility: VisibilitySchema,
    created_at: time('When it was uploaded.'),
  })
  .meta({ id: 'AlbumImage' });

export const AlbumDetailSchema = AlbumSchema.extend({
  images: z.array(AlbumImageSchema).meta({ description: 'One page of the album’s images, newest first (see limit and offset).' }),
  next_offset: z.int().nullable().meta({ description: 'The offset of the next page; null on the last page.' }),
}).meta({ id: 'AlbumDetail' });

export const AlbumListSchema = z.object({ data: z.array(AlbumSchema) }).meta({ id: 'AlbumList' });

export const MeSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    email: z.string(),
    email_verified: z.boolean().meta({ description: 'Whether the email address is confirmed; until it is, the quota may be smaller (or nothing).' }),
    created_at: time('When the account was created.'),
    quota: z.object({
      used_bytes: z.int(),
      limit_bytes: z.int().meta({ description: 'What the account may store now, in bytes: its quota, or less until its email address is confirmed.' }),
    }),
    key: z.object({ id: z.string(), name: z.string(), scopes: z.array(z.enum(API_SCOPES)) }).meta({ description: 'The key this request was made with.' }),
  })
  .meta({ id: 'Me' });

export const ProblemSchema = z
  .object({
    type: link('A link to this error code in the API reference.'),
    title: z.string().meta({ description: 'The HTTP status text.' }),
    status: z.int(),
    detail: z.string().meta({ description: 'What went wrong and what to do, for a person to read.' }),
    code: z.string().meta({ description: 'A stable code from the error vocabulary (see the reference).' }),
    field: z.string().optional().meta({ description: 'The request field (or scope) the error is about.' }),
    required_scope: z.enum(API_SCOPES).optional().meta({ description: 'The scope the key lacks (403 insufficient_scope).' }),
    request_id: z.string().optional().meta({ description: 'Quote this when reporting a server error.' }),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem details object (application/problem+json).' });

export const PlainUrlSchema = z.string().meta({ description: 'The direct image URL, as text (with Accept: text/plain).' });
