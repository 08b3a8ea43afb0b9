import { createRepos } from '../../db/repos.js';
import { createApiKey } from '../../services/api-keys.service.js';
import { API_SCOPES, type ApiScope } from '../../services/caller.js';
import type { TestUser } from './accounts.js';
import type { TestApp } from './test-app.js';

/** Creates an API key for a test account straight through the service (the web page has its own tests). */
export async function apiKeyFor(app: TestApp, user: Pick<TestUser, 'id'>, scopes: readonly ApiScope[] = API_SCOPES, lifetime = 'never', name = 'test key'): Promise<{ key: string; keyId: string }> {
  const repos = createRepos(app.db);
  const record = await repos.users.findById(user.id);
  if (!record) throw new Error(`no user ${user.id}`);
  const created = await createApiKey({ repos, clock: () => new Date() }, record, { name, scopes: [...scopes], lifetime }, { ip: '127.0.0.1', userAgent: 'test' });
  return { key: created.fullKey, keyId: created.record.id };
}

export type ApiAnswer = { status: number; headers: Headers; text: string; json: any };

/** One call to the API with a key (Authorization: Bearer), a JSON body or a FormData body. */
export async function api(
  app: Pick<TestApp, 'url'>,
  method: string,
  path: string,
  options: { key?: string | null; json?: unknown; form?: FormData; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...(options.key ? { Authorization: `Bearer ${options.key}` } : {}), ...options.headers };
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) body = options.form;
  const res = await fetch(`${app.url}${path}`, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}
