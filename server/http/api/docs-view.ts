import type { OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { ERROR_CODES } from './problem.js';

/**
 * What the reference page (/api/docs) shows, read from the OpenAPI document itself, so the page and the document
 * cannot disagree: operations with their parameters, bodies, answers and scopes, the schemas, the error codes and
 * a curl line for each operation.
 */
type Document = ReturnType<OpenApiGeneratorV31['generateDocument']>;
type Schema = Record<string, unknown>;

export type FieldView = { name: string; type: string; required: boolean; description: string };
export type OperationView = {
  anchor: string;
  method: string;
  path: string;
  tag: string;
  summary: string;
  description: string;
  scope: string | null;
  params: Array<FieldView & { in: string }>;
  body: { contentType: string; fields: FieldView[] } | null;
  responses: Array<{ status: string; description: string; types: string[]; schema: string | null }>;
  curl: string;
};

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const refName = (ref: string): string => ref.split('/').pop() ?? ref;

/** A schema's type in words; a reference to an object names it, a reference to anything else is spelled out. */
function typeOf(schema: Schema | undefined, doc: Document): string {
  if (!schema) return 'any';
  if (typeof schema.$ref === 'string') {
    const target = doc.components?.schemas?.[refName(schema.$ref)] as Schema | undefined;
    return target && target.type !== 'object' ? typeOf(target, doc) : refName(schema.$ref);
  }
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (union) return union.map((s) => typeOf(s, doc)).join(' or ');
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type ?? 'object']) as string[];
  return types
    .map((t) => (t === 'array' ? `array of ${typeOf(schema.items as Schema, doc)}` : t === 'string' && schema.format ? `string (${schema.format as string})` : t))
    .join(' or ');
}

function fieldsOf(schema: Schema | undefined, doc: Document): FieldView[] {
  const resolved = typeof schema?.$ref === 'string' ? (doc.components?.schemas?.[refName(schema.$ref)] as Schema | undefined) : schema;
  const properties = (resolved?.properties ?? {}) as Record<string, Schema>;
  const required = new Set((resolved?.required ?? []) as string[]);
  const describe = (field: Schema) => String(field.description ?? (typeof field.$ref === 'string' ? ((doc.components?.schemas?.[refName(field.$ref)] as Schema | undefined)?.description ?? '') : ''));
  return Object.entries(properties).map(([name, field]) => ({ name, type: typeOf(field, doc), required: required.has(name), description: describe(field) }));
}

function sampleValue(field: FieldView, schema: Schema | undefined): string {
  const match = /^one of "([^"]+)"/.exec(field.type);
  if (match) return match[1]!;
  return String(schema?.example ?? (field.name === 'title' ? 'Holiday' : 'value'));
}

function curlFor(method: string, url: string, body: OperationView['body'], bodySchema: Schema | undefined, keyed: boolean): string {
  const lines = [`curl${method === 'get' ? '' : ` -X ${method.toUpperCase()}`} "${url}"`];
  // The header comes from a file only you can read, so the key never shows in `ps` while curl runs.
  if (keyed) lines.push('  -H @"$HOME/.pixbin-auth"');
  if (body?.contentType === 'multipart/form-data') {
    lines.push('  -F "file=@screenshot.png"');
    for (const field of body.fields.filter((f) => f.name === 'visibility')) lines.push(`  -F "${field.name}=${sampleValue(field, undefined)}"`);
  } else if (body) {
    const props = (bodySchema?.properties ?? {}) as Record<string, Schema>;
    const sample = Object.fromEntries(body.fields.map((f) => [f.name, sampleValue(f, props[f.name])]));
    lines.push('  -H "Content-Type: application/json"', `  -d '${JSON.stringify(sample)}'`);
  }
  return lines.join(' \\\n');
}

export function docsView(doc: Document) {
  const operations: OperationView[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = (item as Record<string, Schema | undefined>)[method];
      if (!op) continue;
      const scope = (op['x-required-scope'] as string | undefined) ?? null;
      const params = ((op.parameters ?? []) as Schema[]).map((p) => ({
        name: String(p.name),
        in: String(p.in),
        type: typeOf(p.schema as Schema, doc),
        required: p.required === true,
        description: String(p.description ?? (p.schema as Schema | undefined)?.description ?? ''),
      }));
      const content = ((op.requestBody as Schema | undefined)?.content ?? {}) as Record<string, { schema?: Schema }>;
      const [contentType, media] = Object.entries(content)[0] ?? [];
      const bodySchema = typeof media?.schema?.$ref === 'string' ? (doc.components?.schemas?.[refName(media.schema.$ref)] as Schema) : media?.schema;
      const body = contentType ? { contentType, fields: fieldsOf(media?.schema, doc) } : null;
      const responses = Object.entries((op.responses ?? {}) as Record<string, Schema>).map(([status, res]) => {
        const types = Object.keys((res.content ?? {}) as object);
        const first = Object.values((res.content ?? {}) as Record<string, { schema?: Schema }>)[0]?.schema;
        return { status, description: String(res.description ?? ''), types, schema: first ? typeOf(first, doc) : null };
      });
      const examplePath = path.replace(/\{(\w+)\}/g, (_m, name: string) => name.toUpperCase());
      operations.push({
        anchor: String(op.operationId),
        method: method.toUpperCase(),
        path,
        tag: String((op.tags as string[] | undefined)?.[0] ?? ''),
        summary: String(op.summary ?? ''),
        description: String(op.description ?? ''),
        scope,
        params,
        body,
        responses,
        curl: curlFor(method, `${doc.servers?.[0]?.url ?? ''}${examplePath}`, body, bodySchema, scope !== null),
      });
    }
  }
  const schemas = Object.entries(doc.components?.schemas ?? {})
    .filter(([, s]) => (s as Schema).type === 'object')
    .map(([name, s]) => ({ name, description: String((s as Schema).description ?? ''), fields: fieldsOf(s as Schema, doc) }));
  return { title: doc.info.title, description: doc.info.description ?? '', version: doc.info.version, operations, schemas, errors: ERROR_CODES };
}
