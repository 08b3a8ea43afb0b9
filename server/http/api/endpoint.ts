import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { STATUS_CODES } from 'node:http';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { ApiKeyCaller, ApiScope } from '../../services/caller.js';
import { requireScope } from '../../services/api-keys.service.js';
import { Unauthorized } from '../../errors.js';
import { ProblemSchema } from './schemas.js';
import { jsonBody, parseParams, parseQuery, parseBody } from './validation.js';

/**
 * One place that both documents an endpoint in the OpenAPI registry and mounts it on the Express router, from the
 * same zod schemas that validate its input: a route cannot exist without its documentation, nor the other way round.
 */
export const API_BASE = '/api/v1';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Shape = z.ZodObject | undefined;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export type Context<P extends Shape, Q extends Shape, B extends Shape> = { req: Request; res: Response; params: Out<P>; query: Out<Q>; body: Out<B> };

type Spec<P extends Shape, Q extends Shape, B extends Shape> = {
  method: Method;
  /** Relative to API_BASE, OpenAPI style: '/images/{id}'. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  /** multipart: `file.optional` when another field can stand in for the file; `alsoJson` when the same fields may come as JSON. */
  body?: { kind: 'json'; schema: B } | { kind: 'multipart'; schema: B; file: { field: string; description: string; optional?: boolean }; alsoJson?: boolean };
  /** Runs after the scope check and before the body is validated (e.g. the upload gate and the multipart receiver). */
  before?: RequestHandler[];
  success: { status: number; description: string; schema?: z.ZodType; contentType?: string; alternatives?: Record<string, z.ZodType> };
  /** Error statuses this endpoint can answer, besides those every keyed endpoint can (401, 403, 429). */
  errors?: number[];
};
export type KeyedSpec<P extends Shape, Q extends Shape, B extends Shape> = Spec<P, Q, B> & {
  scope: ApiScope;
  handle: (ctx: Context<P, Q, B> & { caller: ApiKeyCaller }) => Promise<void> | void;
};
export type PublicSpec<P extends Shape, Q extends Shape, B extends Shape> = Spec<P, Q, B> & { handle: (ctx: Context<P, Q, B>) => Promise<void> | void };

export const SECURITY_SCHEMES = { bearer: 'bearerAuth', header: 'apiKeyHeader' } as const;

const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': { description: 'Requests allowed in the current window, for the tighter of the key and account limits.', schema: { type: 'integer' as const } },
  'RateLimit-Remaining': { description: 'Requests left in the window.', schema: { type: 'integer' as const } },
  'RateLimit-Reset': { description: 'Seconds until the window resets.', schema: { type: 'integer' as const } },
  'RateLimit-Policy': { description: 'The limit and its window, e.g. `120;w=60`.', schema: { type: 'string' as const } },
};

const ERROR_HEADERS: Record<number, ResponseConfig['headers']> = {
  401: { 'WWW-Authenticate': { description: 'Bearer realm="pixbin", with error="invalid_token" when a key was sent.', schema: { type: 'string' } } },
  403: { 'WWW-Authenticate': { description: 'Bearer error="insufficient_scope", scope="<the scope>" when the key lacks a scope.', schema: { type: 'string' } } },
  429: { 'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer' } } },
  503: { 'Retry-After': { description: 'Seconds to wait before trying again, when known.', schema: { type: 'integer' } } },
};

const KEYED_ERRORS = [401, 403, 429];

type Pattern = { method: string; regex: RegExp; path: string };

const expressPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');
const patternOf = (path: string) => new RegExp(`^${path.split(/\{\w+\}/).map((s) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+')}/?$`, 'i');

export type ApiSurface = ReturnType<typeof createApiSurface>;

export function createApiSurface() {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', SECURITY_SCHEMES.bearer, { type: 'http', scheme: 'bearer', bearerFormat: 'pxb_<key id>_<secret>', description: 'Authorization: Bearer pxb_…' });
  registry.registerComponent('securitySchemes', SECURITY_SCHEMES.header, { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same key in the X-API-Key header.' });
  /** Endpoints that answer without a key (the document itself), mounted before authentication. */
  const publicRoutes = Router();
  /** Every other endpoint, mounted after authentication and the API rate limits. */
  const keyedRoutes = Router();
  const patterns: Pattern[] = [];

  function document<P extends Shape, Q extends Shape, B extends Shape>(spec: Spec<P, Q, B>, scope: ApiScope | null): void {
    const responses: RouteConfig['responses'] = {};
    const content: NonNullable<ResponseConfig['content']> = {};
    if (spec.success.schema) content[spec.success.contentType ?? 'application/json'] = { schema: spec.success.schema };
    for (const [type, schema] of Object.entries(spec.success.alternatives ?? {})) content[type] = { schema };
    responses[spec.success.status] = {
      description: spec.success.description,
      ...(scope ? { headers: RATE_LIMIT_HEADERS } : {}),
      ...(Object.keys(content).length ? { content } : {}),
    };
    const errors = [...new Set([...(spec.errors ?? []), ...(scope ? KEYED_ERRORS : [])])].sort((a, b) => a - b);
    for (const status of errors) {
      responses[status] = {
        description: STATUS_CODES[status] ?? 'Error',
        headers: { ...(scope && status !== 401 ? RATE_LIMIT_HEADERS : {}), ...(ERROR_HEADERS[status] as object | undefined) },
        content: { 'application/problem+json': { schema: ProblemSchema } },
      };
    }
    let body: NonNullable<RouteConfig['request']>['body'];
    if (spec.body?.kind === 'json') body = { required: true, content: { 'application/json': { schema: spec.body.schema! } } };
    else if (spec.body?.kind === 'multipart') {
      const file = spec.body.file;
      // The file part is read by multer, not by the schema; the document shows it next to the text fields.
      const part = z.string().meta({ description: file.description, format: 'binary', contentMediaType: 'application/octet-stream' });
      const schema = spec.body.schema!.extend({ [file.field]: file.optional ? part.optional() : part });
      body = { required: true, content: { 'multipart/form-data': { schema }, ...(spec.body.alsoJson ? { 'application/json': { schema: spec.body.schema! } } : {}) } };
    }
    registry.registerPath({
      method: spec.method,
      path: `${API_BASE}${spec.path}`,
      operationId: spec.operationId,
      tags: [spec.tag],
      summary: spec.summary,
      description: [spec.description, scope ? `Requires the \`${scope}\` scope.` : 'No key needed.'].filter(Boolean).join('\n\n'),
      security: scope ? [{ [SECURITY_SCHEMES.bearer]: [scope] }, { [SECURITY_SCHEMES.header]: [scope] }] : [],
      ...(scope ? { 'x-required-scope': scope } : {}),
      request: { ...(spec.params ? { params: spec.params } : {}), ...(spec.query ? { query: spec.query } : {}), ...(body ? { body } : {}) },
      responses,
    });
    patterns.push({ method: spec.method.toUpperCase(), regex: patternOf(spec.path), path: `${API_BASE}${spec.path}` });
  }

  /** The validation steps every endpoint shares: JSON body parsing, then params, query and body against their schemas. */
  function validated<P extends Shape, Q extends Shape, B extends Shape>(spec: Spec<P, Q, B>): { steps: RequestHandler[]; input: (req: Request) => { params: Out<P>; query: Out<Q>; body: Out<B> } } {
    const steps: RequestHandler[] = spec.body?.kind === 'json' ? [jsonBody] : [];
    return {
      steps,
      input: (req) => ({
        params: (spec.params ? parseParams(spec.params, req.params) : undefined) as Out<P>,
        query: (spec.query ? parseQuery(spec.query, req.query) : undefined) as Out<Q>,
        body: (spec.body ? parseBody(spec.body.schema!, req.body) : undefined) as Out<B>,
      }),
    };
  }

  return {
    registry,
    publicRoutes,
    keyedRoutes,

    /** An endpoint that needs a key with `scope`. */
    keyed<P extends Shape = undefined, Q extends Shape = undefined, B extends Shape = undefined>(spec: KeyedSpec<P, Q, B>): void {
      document(spec, spec.scope);
      const { steps, input } = validated(spec);
      const scopeCheck: RequestHandler = (req, _res, next) => {
        requireScope(keyCaller(req), spec.scope);
        next();
      };
      keyedRoutes[spec.method](`${API_BASE}${expressPath(spec.path)}`, scopeCheck, ...(spec.before ?? []), ...steps, async (req, res) => {
        await spec.handle({ req, res, caller: keyCaller(req), ...input(req) });
      });
    },

    /** An endpoint anyone may call without a key (only the OpenAPI document). */
    open<P extends Shape = undefined, Q extends Shape = undefined, B extends Shape = undefined>(spec: PublicSpec<P, Q, B>): void {
      document(spec, null);
      const { steps, input } = validated(spec);
      publicRoutes[spec.method](`${API_BASE}${expressPath(spec.path)}`, ...(spec.before ?? []), ...steps, async (req, res) => {
        await spec.handle({ req, res, ...input(req) });
      });
    },

    /** The documented pattern a request matched ('/api/v1/images/{id}'), or null: what the request log records. */
    routeOf(method: string, url: string): string | null {
      const path = url.split('?')[0]!;
      if (!path.toLowerCase().startsWith(API_BASE)) return null;
      const rest = path.slice(API_BASE.length);
      const verb = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase(); // Express answers HEAD with the GET route
      return patterns.find((p) => p.method === verb && p.regex.test(rest))?.path ?? null;
    },

    /** The OpenAPI 3.1 document of everything registered so far. */
    document(publicUrl: string) {
      return new OpenApiGeneratorV31(registry.definitions).generateDocument({
        openapi: '3.1.0',
        info: {
          title: 'Pixbin API',
          version: '1',
          description: `Upload and manage images with an API key. Send the key as \`Authorization: Bearer pxb_…\` (or \`X-API-Key\`), never in a URL. Errors are RFC 9457 problem details. The reference is at ${publicUrl}/api/docs.`,
        },
        servers: [{ url: publicUrl }],
      });
    },
  };
}

/** The key caller that authentication put on the request. */
export function keyCaller(req: Request): ApiKeyCaller {
  if (req.caller?.kind !== 'api_key') throw new Unauthorized();
  return req.caller;
}
