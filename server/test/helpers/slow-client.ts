import { connect } from 'node:net';

/** One HTTP/1.1 answer read off a raw socket. */
export type RawAnswer = { status: number; headers: Record<string, string>; body: string; json: () => any };

/**
 * A client on a raw socket that sends a request at whatever pace the test chooses: a few bytes and then nothing
 * (a stalled body), a drip, or a slow but steady stream. It keeps what the server answers and when the server
 * closed the connection, so a test can tell "answered and closed" from "still held open".
 */
export type SlowClient = {
  /** Writes unless the connection is closed; resolves once the bytes are handed to the kernel. */
  write: (data: Buffer | string) => Promise<void>;
  /** Sends body in chunks of chunkBytes every everyMs, stopping early if the connection closes. */
  stream: (body: Buffer, pace: { chunkBytes: number; everyMs: number }) => Promise<void>;
  /** The first complete answer, or null if the connection closed without one. */
  readonly answered: Promise<RawAnswer | null>;
  /** Resolves with Date.now() when the connection is closed (by either side). */
  readonly closed: Promise<number>;
  readonly isClosed: () => boolean;
  /** When the last byte was written (Date.now()). */
  readonly lastWriteAt: () => number;
  destroy: () => void;
};

function parseAnswer(raw: Buffer): RawAnswer | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN);
  if (status === 100) return parseAnswer(raw.subarray(end + 4)); // 100 Continue comes before the real answer
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = raw.subarray(end + 4);
  let body: Buffer;
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return null;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (rest.length < lineEnd + 2 + size + 2) return null;
      if (size === 0) break;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < length) return null;
    body = rest.subarray(0, length);
  }
  const text = body.toString('utf8');
  return { status, headers, body: text, json: () => JSON.parse(text) };
}

/** Opens a connection to baseUrl's host and port and sends head (the request line and headers) at once. */
export function openSlowClient(baseUrl: string, head: string): Promise<SlowClient> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      let received = Buffer.alloc(0);
      let closed = false;
      let lastWrite = Date.now();
      let settle: (answer: RawAnswer | null) => void = () => undefined;
      const answered = new Promise<RawAnswer | null>((r) => (settle = r));
      const closedAt = new Promise<number>((r) =>
        socket.once('close', () => {
          closed = true;
          settle(parseAnswer(received));
          r(Date.now());
        }),
      );
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const answer = parseAnswer(received);
        if (answer) settle(answer);
      });
      const write = (data: Buffer | string) =>
        new Promise<void>((done) => {
          if (closed || socket.destroyed) {
            done();
            return;
          }
          lastWrite = Date.now();
          socket.write(data, () => done());
        });
      const client: SlowClient = {
        write,
        async stream(body, { chunkBytes, everyMs }) {
          for (let at = 0; at < body.length && !closed; at += chunkBytes) {
            if (at > 0) await new Promise((r) => setTimeout(r, everyMs));
            await write(body.subarray(at, at + chunkBytes));
          }
        },
        answered,
        closed: closedAt,
        isClosed: () => closed,
        lastWriteAt: () => lastWrite,
        destroy: () => socket.destroy(),
      };
      socket.write(head, () => resolve(client));
    });
    socket.on('error', () => undefined); // a reset after the server gave up is expected; 'close' still follows
    socket.once('error', reject);
  });
}

/** The request line and headers of a POST whose body is about to follow. */
export function requestHead(path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ Host: '127.0.0.1', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** Waits for a promise, failing with what did not happen once limitMs has passed. */
export async function within<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}
