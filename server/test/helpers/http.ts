import { globalAgent, request } from 'node:http';
import { randomBytes } from 'node:crypto';

/** filenameStar is sent RFC 5987-encoded (filename*=UTF-8''…), which can carry bytes a raw header cannot. */
export type Part = { name: string; value: string | Buffer; filename?: string; filenameStar?: string; contentType?: string };

/** A multipart body built byte by byte, so tests control exactly what a hostile client sends. */
export function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----pixbin${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    if (part.filenameStar !== undefined) head += `; filename*=UTF-8''${encodeURIComponent(part.filenameStar)}`;
    head += '\r\n';
    if (part.contentType) head += `Content-Type: ${part.contentType}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'utf8'), Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export type RawResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; json: () => any };

/** A plain HTTP request with a fully controlled body and headers. */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Closes the kept-alive sockets no request is using, so the next request opens a fresh connection: after a long
 * block of the event loop, the server may be closing an idle socket just as a request is written to it.
 */
export function dropIdleConnections(): void {
  for (const sockets of Object.values(globalAgent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/** POSTs a raw body to /upload as a JSON client, with an exact Content-Type and Content-Length. */
export function postUploadBody(baseUrl: string, body: Buffer, contentType: string): Promise<RawResponse> {
  return rawRequest(`${baseUrl}/upload`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json' },
    body,
  });
}

/** Uploads one file as a browser or API client would. */
export async function upload(
  baseUrl: string,
  file: { bytes: Buffer; filename?: string; filenameStar?: string; contentType?: string },
  options: { json?: boolean; token?: string; extraParts?: Part[]; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const parts: Part[] = [];
  if (options.token !== undefined) parts.push({ name: 'cf-turnstile-response', value: options.token });
  parts.push({ name: 'file', value: file.bytes, filename: file.filenameStar === undefined ? (file.filename ?? 'image.bin') : undefined, filenameStar: file.filenameStar, contentType: file.contentType ?? 'application/octet-stream' });
  parts.push(...(options.extraParts ?? []));
  const { body, contentType } = multipart(parts);
  return rawRequest(`${baseUrl}/upload`, {
    method: 'POST',
    headers: {
      'Content-Type': contentType,
      'Content-Length': String(body.length),
      ...(options.json === false ? { Accept: 'text/html' } : { Accept: 'application/json' }),
      ...options.headers,
    },
    body,
  });
}
