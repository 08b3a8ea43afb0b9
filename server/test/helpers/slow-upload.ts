import { request } from 'node:http';
import { multipart, type RawResponse } from './http.js';

/**
 * An upload whose body is sent in two steps: the first `sentShare` of it now, the rest when finish() is called, so
 * the server holds a half-received upload meanwhile. A connection the server drops resolves finish() with status 0.
 */
export function slowUpload(url: string, bytes: Buffer, options: { sentShare?: number; headers?: Record<string, string> } = {}): { finish: () => Promise<RawResponse>; response: Promise<RawResponse> } {
  const { body, contentType } = multipart([{ name: 'file', value: bytes, filename: 'slow.jpg', contentType: 'image/jpeg' }]);
  const cut = Math.floor(body.length * (options.sentShare ?? 0.5));
  let settle: (res: RawResponse) => void = () => undefined;
  const response = new Promise<RawResponse>((resolve) => (settle = resolve));
  const req = request(url, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json', ...options.headers } }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const all = Buffer.concat(chunks);
      settle({ status: res.statusCode ?? 0, headers: res.headers, body: all, json: () => JSON.parse(all.toString('utf8')) });
    });
    res.on('error', () => settle({ status: 0, headers: {}, body: Buffer.alloc(0), json: () => null }));
  });
  req.on('error', () => settle({ status: 0, headers: {}, body: Buffer.alloc(0), json: () => null }));
  req.write(body.subarray(0, cut));
  return {
    response,
    finish: () => {
      req.end(body.subarray(cut));
      return response;
    },
  };
}
