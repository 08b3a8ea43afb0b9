import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp } from '../../../app.js';
import { loadConfig } from '../../../config/config.js';
import { createContainer } from '../../../container.js';
import { createStorage } from '../../../storage/create-storage.js';
import { signedInUser } from '../../helpers/accounts.js';
import { api, apiKeyFor } from '../../helpers/api.js';
import { rawRequest } from '../../helpers/http.js';
import { startTestApp, type TestApp } from '../../helpers/test-app.js';
import { testDatabase } from '../../helpers/test-db.js';

type Layer = { route?: { path: unknown; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };

/** Every route mounted under /api/v1 in the real app, as "METHOD /api/v1/images/{id}". */
function mountedApiRoutes(stack: Layer[]): string[] {
  const found: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = (Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path]).map(String);
      for (const p of paths.filter((p) => p.toLowerCase().startsWith('/api/v1'))) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all' && m !== 'head')) found.push(`${method.toUpperCase()} ${p.replace(/:(\w+)/g, '{$1}')}`);
      }
    } else if (layer.handle?.stack) found.push(...mountedApiRoutes(layer.handle.stack));
  }
  return found.sort();
}

describe('API v1: the OpenAPI document and the reference page', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(async () => app.close());

  it('documents exactly the routes the app mounts under /api/v1, each keyed one with its scope', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-api-routes-'));
    try {
      const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: 'http://127.0.0.1:1', STORAGE_DRIVER: 'local' });
      const express = createApp(createContainer({ config, db: testDatabase().db, storage: createStorage(config), logger: pino({ level: 'silent' }), tempDir: dataDir }));
      const mounted = mountedApiRoutes((express as unknown as { router: { stack: Layer[] } }).router.stack);
      const doc = (await api(app, 'GET', '/api/v1/openapi.json')).json;
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
        .flatMap(([p, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${p}`))
        .sort();
      expect(mounted.length).to.be.greaterThan(12);
      expect(mounted).to.deep.equal(documented);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('serves a valid-looking OpenAPI 3.1 document without a key, not logged', async () => {
    const res = await rawRequest(`${app.url}/api/v1/openapi.json`);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    expect(res.headers['cache-control']).to.equal('no-cache');
    const doc = res.json();
    expect(doc.openapi).to.match(/^3\.1\.\d+$/);
    expect(doc.info).to.include({ title: 'Pixbin API', version: '1' });
    expect(doc.servers).to.deep.equal([{ url: app.config.publicUrl }]);
    expect(doc.components.securitySchemes).to.deep.include({ bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'pxb_<key id>_<secret>', description: 'Authorization: Bearer pxb_…' } });
    expect(doc.components.securitySchemes.apiKeyHeader).to.include({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(doc.components.schemas.Problem.required).to.include.members(['type', 'title', 'status', 'detail', 'code']);
    for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.operationId, `${method} ${p}`).to.be.a('string');
        for (const param of op.parameters ?? []) expect(param.schema.type, `${p} ${param.name}`).to.be.a('string'); // never "or null"

        if (p === '/api/v1/openapi.json') {
          expect(op.security).to.deep.equal([]);
          continue;
        }
        const scope = op['x-required-scope'];
        expect(op.security).to.deep.equal([{ bearerAuth: [scope] }, { apiKeyHeader: [scope] }]);
        expect(op.responses['401'].headers['WWW-Authenticate']).to.be.an('object');
        expect(op.responses['403'].content['application/problem+json'].schema).to.deep.equal({ $ref: '#/components/schemas/Problem' });
        expect(op.responses['429'].headers).to.have.property('Retry-After');
        const success = Object.keys(op.responses).find((s) => s.startsWith('2'))!;
        expect(op.responses[success].headers).to.have.all.keys('RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy');
        // Every $ref points at a schema that exists.
        for (const ref of JSON.stringify(op).match(/#\/components\/schemas\/\w+/g) ?? []) expect(doc.components.schemas, ref).to.have.property(ref.split('/').pop()!);
      }
    }
    expect(doc.paths['/api/v1/images'].post.requestBody.content['multipart/form-data'].schema.properties.file).to.include({ format: 'binary' });
    expect(doc.paths['/api/v1/images'].post.responses['201'].content).to.have.all.keys('application/json', 'text/plain');
    expect(await app.db('api_requests')).to.deep.equal([]);
  });

  it('renders /api/docs from the document: every operation, scope and error code, nothing from another origin', async () => {
    const res = await rawRequest(`${app.url}/api/docs`);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    const html = res.body.toString();
    const doc = (await api(app, 'GET', '/api/v1/openapi.json')).json;
    for (const item of Object.values(doc.paths as Record<string, Record<string, any>>)) {
      for (const op of Object.values(item)) {
        expect(html).to.include(`id="${op.operationId}"`);
        if (op['x-required-scope']) expect(html).to.include(`<code>${op['x-required-scope']}</code>`);
      }
    }
    for (const code of ['insufficient_scope', 'api_key_in_query', 'bad_cursor', 'rate_limited', 'not_found', 'unknown_field']) expect(html).to.include(`id="error-${code}"`);
    expect(html).to.include('curl');
    expect(html).to.include('-F &#34;file=@screenshot.png&#34;');
    const urls = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(urls.length).to.be.greaterThan(5);
    expect(urls.filter((u) => /^(https?:)?\/\//.test(u))).to.deep.equal([]);
    expect(html).not.to.match(/<script(?![^>]*\bsrc="\/static\/)/);
  });

  it('links every problem type to an entry of the reference page', async () => {
    const user = await signedInUser(app);
    const { key } = await apiKeyFor(app, user, ['images:read']);
    const html = (await rawRequest(`${app.url}/api/docs`)).body.toString();
    for (const res of [await api(app, 'GET', '/api/v1/me', { key }), await api(app, 'GET', '/api/v1/images?limit=0', { key }), await api(app, 'GET', '/api/v1/me')]) {
      const anchor = new URL(res.json.type).hash.slice(1);
      expect(html, anchor).to.include(`id="${anchor}"`);
    }
  });
});
