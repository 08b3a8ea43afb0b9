import fs from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { S3Storage, type S3Settings } from '../../storage/s3.storage.js';
import { freePort, spawnTs, type Child } from './child-process.js';

/**
 * A real S3-protocol server (s3rver) on loopback. It accepts any credentials and does not check signatures;
 * the credential-error path is tested against a server that answers like S3 does (see s3-errors tests).
 */
export type S3Server = { endpoint: string; directory: string; createBucket: (name: string) => Promise<void>; close: () => Promise<void> };

export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * Starts s3rver on a free loopback port and a fresh folder, or on the given ones (a drill restarts the store where
 * it was); a folder it was given is left in place by close().
 */
export async function startS3Server(options: { port?: number; directory?: string } = {}): Promise<S3Server> {
  const directory = options.directory ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-s3rver-')));
  const server = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', silent: true, directory });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    directory,
    createBucket: async (name) => {
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_TEST_CREDENTIALS });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    close: async () => {
      await server.close();
      if (!options.directory) await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/** The settings a driver needs for a bucket on this server; s3rver wants request checksums only when required. */
export function s3Settings(endpoint: string, bucket: string, overrides: Partial<S3Settings> = {}): S3Settings {
  return {
    endpoint,
    region: 'us-east-1',
    bucket,
    ...S3_TEST_CREDENTIALS,
    forcePathStyle: true,
    prefix: '',
    requestChecksum: 'WHEN_REQUIRED',
    timeoutMs: 5000,
    ...overrides,
  };
}

/** The same, as the environment variables the app reads. */
export function s3Env(endpoint: string, bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STORAGE_DRIVER: 's3',
    S3_ENDPOINT: endpoint,
    S3_REGION: 'us-east-1',
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
    S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
    S3_REQUEST_CHECKSUM: 'when_required',
    S3_TIMEOUT_MS: '5000',
    ...extra,
  };
}

// The S3 pass (PIXBIN_TEST_STORAGE=s3) runs the whole suite with every test app on one bucket of one server.
export const testStorageDriver = (): 'local' | 's3' => (process.env.PIXBIN_TEST_STORAGE === 's3' ? 's3' : 'local');
export const TEST_BUCKET = 'pixbin-test';
let shared: S3Server | null = null;

export async function openTestS3(): Promise<void> {
  if (testStorageDriver() !== 's3') return;
  shared = await startS3Server();
  await shared.createBucket(TEST_BUCKET);
}

export function testS3(): S3Server {
  if (!shared) throw new Error('the S3 pass starts its server in the root hooks');
  return shared;
}

export async function closeTestS3(): Promise<void> {
  await shared?.close();
  shared = null;
}

/** Deletes every object in the shared test bucket (nothing when this pass runs on local storage). */
export async function emptyTestBucket(): Promise<void> {
  if (!shared) return;
  const storage = new S3Storage(s3Settings(shared.endpoint, TEST_BUCKET));
  try {
    const keys: string[] = [];
    for await (const object of storage.list('')) if (!object.key.startsWith('.')) keys.push(object.key); // probes delete themselves
    for (const key of keys) await storage.delete(key);
  } finally {
    storage.destroy();
  }
}

/**
 * A TCP relay in front of an S3 server that can be switched to fail: 'stall' accepts connections and never
 * answers (new and existing ones). It counts the client sockets that sent a request into the stall and are
 * still open: a client that gave up properly has closed every one of them (idle pooled sockets do not count).
 */
export type FaultyS3 = { endpoint: string; setMode: (mode: 'pass' | 'stall') => void; openStalledSockets: () => number; close: () => Promise<void> };

export async function startFaultyRelay(target: string): Promise<FaultyS3> {
  const { port: targetPort, hostname } = new URL(target);
  let mode: 'pass' | 'stall' = 'pass';
  const sockets = new Set<net.Socket>();
  const stalled = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => (sockets.delete(client), stalled.delete(client)));
    client.on('error', () => undefined);
    client.on('end', () => client.destroy()); // the client hung up: count it closed
    if (mode === 'stall') {
      stalled.add(client);
      client.resume(); // swallow the request (so a hang-up is noticed) and answer nothing
      return;
    }
    const upstream = net.connect(Number(targetPort), hostname);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (mode === 'pass') upstream.write(chunk);
      else stalled.add(client); // once stalled, requests on kept-alive sockets go nowhere
    });
    upstream.on('data', (chunk) => {
      if (mode === 'pass') client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setMode: (m) => (mode = m),
    openStalledSockets: () => stalled.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback server that answers every request the way S3 answers a wrong key or secret, with its error document. */
export async function startErrorS3(code: 'SignatureDoesNotMatch' | 'InvalidAccessKeyId' | 'NoSuchBucket' | 'AccessDenied', status = 403): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} (loopback stand-in)</Message><RequestId>0</RequestId></Error>`;
    res.writeHead(status, { 'Content-Type': 'application/xml', 'x-amz-request-id': '0' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * s3rver in a child process (helpers/s3rver-child.ts) on a fixed port and folder, for drills that freeze the store
 * (SIGSTOP: connections are still accepted by the kernel, nothing answers) or kill it (SIGKILL) and start it again
 * where it was, with its objects.
 */
export type S3Process = {
  readonly endpoint: string;
  readonly bucket: string;
  readonly directory: string;
  freeze(): void;
  thaw(): void;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder; resolves once it listens. */
  start(): Promise<void>;
  /** Every object key in the bucket (probe objects excluded), read through the S3 API. */
  keys(): Promise<string[]>;
  /** Stops the process and removes its folder. */
  destroy(): Promise<void>;
};

export async function startS3Process(bucket: string): Promise<S3Process> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-s3rver-'));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let child: Child | null = null;
  const start = async () => {
    const started = spawnTs('server/test/helpers/s3rver-child.ts', {}, [String(port), directory, bucket]);
    child = started;
    await started.waitUntil(() => started.stdout().includes(endpoint), 30_000, `s3rver listening on ${endpoint}`);
  };
  const kill = async () => {
    if (!child || child.process.exitCode !== null || child.process.signalCode !== null) return;
    child.process.kill('SIGCONT'); // a frozen process dies on SIGKILL too, but be sure its sockets close
    child.process.kill('SIGKILL');
    await child.exited;
  };
  await start();
  return {
    endpoint,
    bucket,
    directory,
    freeze: () => void child?.process.kill('SIGSTOP'),
    thaw: () => void child?.process.kill('SIGCONT'),
    kill,
    start,
    keys: async () => {
      const storage = new S3Storage(s3Settings(endpoint, bucket));
      try {
        const keys: string[] = [];
        for await (const object of storage.list('')) if (!object.key.startsWith('.')) keys.push(object.key);
        return keys.sort();
      } finally {
        storage.destroy();
      }
    },
    destroy: async () => {
      await kill();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
