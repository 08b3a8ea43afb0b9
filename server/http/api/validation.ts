import express, { type RequestHandler } from 'express';
import type { z } from 'zod';
import { AppError, BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../../errors.js';

/**
 * The API's edge: JSON bodies are parsed by their own small parser (16 kB, objects and arrays only, application/json
 * only), and every params, query and body is checked against its zod schema. Each refusal is a 4xx naming the field.
 */
export const JSON_LIMIT = '16kb';

export const messages = {
  notJson: 'Send the body as JSON, with "Content-Type: application/json".',
  tooLarge: `The JSON body is larger than ${JSON_LIMIT.replace('kb', ' kB')}.`,
  malformed: 'The body is not valid JSON (it must be one JSON object).',
  badCharset: 'Send the JSON body as UTF-8.',
  invalidUtf8: 'The body is not valid UTF-8. Send the JSON body as UTF-8.',
  notObject: 'The body must be a JSON object.',
  unknownField: (name: string) => `Unknown field "${name}". See /api/docs for the fields this endpoint accepts.`,
  required: (name: string) => `"${name}" is required.`,
  invalid: (name: string, why: string) => `"${name}" is not valid: ${why}.`,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const parseJson = express.json({
  limit: JSON_LIMIT,
  strict: true,
  type: 'application/json',
  // JSON.parse would quietly turn invalid bytes into U+FFFD and store them; refuse them instead.
  verify: (_req, _res, buf) => void utf8.decode(buf),
});

/** body-parser's errors, as the API's typed errors. */
function translate(err: { type?: string }): AppError {
  switch (err.type) {
    case 'entity.too.large':
      return new PayloadTooLarge(messages.tooLarge, 'json_too_large');
    case 'entity.verify.failed':
      return new BadRequest(messages.invalidUtf8, 'invalid_utf8', 'body');
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new UnsupportedMediaType(messages.badCharset, 'unsupported_charset');
    default:
      return new BadRequest(messages.malformed, 'malformed_json');
  }
}

/** Parses a JSON body; a body of any other type is a 415. No body at all is left for the schema to refuse. */
export const jsonBody: RequestHandler = (req, res, next) => {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) {
    next();
    return;
  }
  if (!req.is('application/json')) {
    next(new UnsupportedMediaType(messages.notJson, 'unsupported_media_type'));
    return;
  }
  parseJson(req, res, (err?: unknown) => next(err ? translate(err as { type?: string }) : undefined));
};

/** The first problem zod found, as a 400 naming the field. */
function refusal(error: z.ZodError, where: 'query' | 'body'): BadRequest {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const name = [path, issue.keys[0]].filter(Boolean).join('.');
    return new BadRequest(messages.unknownField(name), 'unknown_field', name);
  }
  if (!path) {
    if (where === 'body' && issue.code === 'invalid_type') return new BadRequest(messages.notObject, 'bad_request', 'body');
    // A rule about the whole body or query (e.g. "send at least one field") is about that part of the request.
    return new BadRequest(issue.message, 'bad_request', where);
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return new BadRequest(messages.required(path), 'missing_field', path);
  return new BadRequest(messages.invalid(path, issue.message), 'invalid_field', path);
}

/** Path parameters: anything that cannot be an id names nothing, so it answers 404 like a missing one. */
export function parseParams<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new NotFound();
  return result.data;
}

export function parseQuery<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse({ ...(value as object) }, { reportInput: true });
  if (!result.success) throw refusal(result.error, 'query');
  return result.data;
}

export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  // multer leaves a prototype-less object; a JSON body is a plain one. Either way copy only own fields.
  const result = schema.safeParse(value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value } : value, { reportInput: true });
  if (!result.success) throw refusal(result.error, 'body');
  return result.data;
}

/** Runs fn and names `field` on a 400 that did not say which field it was about (service errors know no API fields). */
export async function aboutField<T>(field: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError && err.kind === 'bad_request' && !err.field) err.field = field;
    throw err;
  }
}
