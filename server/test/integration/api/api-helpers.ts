import { expect } from 'chai';
import { api, type ApiAnswer } from '../../helpers/api.js';
import type { TestApp } from '../../helpers/test-app.js';

/** Asserts an RFC 9457 problem answer and returns its body. */
export function expectProblem(res: ApiAnswer, status: number, code: string, app: Pick<TestApp, 'config'>): any {
  expect(res.status, res.text.slice(0, 300)).to.equal(status);
  expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
  const body = res.json;
  expect(body).to.include({ status, code, type: `${app.config.publicUrl}/api/docs#error-${code}` });
  expect(body.title).to.be.a('string').and.not.equal('');
  expect(body.detail).to.be.a('string').and.have.length.greaterThan(10);
  expect(res.text).not.to.match(/at .*\.(ts|js):\d+|SQLITE|select |insert into|relation/i);
  return body;
}

/** POST /api/v1/images with one file and optional text fields (file first, as ShareX sends it). */
export async function apiUpload(app: Pick<TestApp, 'url'>, key: string, bytes: Buffer, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), 'upload.bin');
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return api(app, 'POST', '/api/v1/images', { key, form, headers });
}

/** POST /api/v1/images with a hand-built multipart body. */
export async function rawProblem(app: Pick<TestApp, 'url'>, key: string, body: { body: Buffer; contentType: string }): Promise<ApiAnswer> {
  return sendBody(app, key, 'POST', '/api/v1/images', body.body, body.contentType);
}

/** A request with an exact body and Content-Type. */
export async function sendBody(app: Pick<TestApp, 'url'>, key: string, method: string, path: string, body: string | Buffer, contentType: string): Promise<ApiAnswer> {
  const res = await fetch(`${app.url}${path}`, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': contentType }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}
