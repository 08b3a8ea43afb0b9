/**
 * The one guarded way out: every request Pixbin makes to a user-supplied URL (webhooks, upload by URL) goes through
 * fetchStream. The address check runs inside the socket's own `lookup`, on every hop, so what was checked is exactly
 * what is connected to (DNS rebinding cannot slip in between). Literal IPs in the URL never reach a lookup, so they
 * are checked before the request and again in the agent's createConnection.
 *
 * Classification uses ipaddr.js (range(): loopback, private, linkLocal, carrierGradeNat, multicast, unspecified,
 * uniqueLocal, reserved, 6to4, teredo, NAT64, …). Only 'unicast' passes; IPv4-mapped IPv6 is judged as the IPv4 it
 * carries. OUTBOUND_ALLOW lists hosts or CIDRs that may be reached anyway (a LAN Home Assistant, a bot on the host).
 * Unspecified addresses (0.0.0.0, ::) and cloud metadata endpoints are refused even then.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dns from 'node:dns';
import { Transform, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors.js';
import { createDnsResolver, normalizeHost, type DnsOptions, type Resolver } from './dns.js';

export { createDnsResolver, DNS_DEFAULTS, HOSTS_FILE_CACHE_MS, parseHostsFile, type DnsOptions, type ResolvedAddress, type Resolver } from './dns.js';

/** 'busy': this instance already has its most DNS queries in flight (a retry later may succeed; nothing is wrong with the link). */
export type OutboundRefusedReason = 'scheme' | 'address' | 'redirect' | 'too_large' | 'timeout' | 'dns' | 'busy';

const messages: Record<OutboundRefusedReason, string> = {
  scheme: 'Only http and https URLs can be fetched.',
  address: 'That address cannot be reached from this server.',
  redirect: 'The URL redirected too many times, or to a place that cannot be reached.',
  too_large: 'The response is larger than allowed.',
  timeout: 'The remote server took too long to answer.',
  dns: 'The host name could not be resolved.',
  busy: 'Too many host names are being looked up right now.',
};

/** A request refused by policy or cut off by a limit. Safe to show: it never names the resolved address. */
export class OutboundRefused extends AppError {
  constructor(
    readonly reason: OutboundRefusedReason,
    /** For logs only (may name addresses). */
    readonly detail: string,
    /** The HTTP status that triggered the refusal (a redirect beyond the limit). */
    readonly status?: number,
  ) {
    super(reason === 'too_large' ? 'payload_too_large' : 'unprocessable', 'outbound_refused', messages[reason]);
  }
}

/** The remote end could not be reached or broke the connection (refused, reset, TLS failure). */
export class OutboundFailed extends AppError {
  constructor(readonly detail: string, options?: { cause?: unknown }) {
    super('unprocessable', 'outbound_failed', 'The remote server could not be reached.');
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export type OutboundLogger = { warn: (obj: object, msg: string) => void };

export type OutboundOptions = {
  /** OUTBOUND_ALLOW entries: host names or IPs/CIDRs. */
  allow: readonly string[];
  logger?: OutboundLogger;
  /** Replaces the DNS resolver (tests). */
  resolver?: Resolver;
  /** Settings of the default resolver (tests point `servers` at their own DNS server). */
  dns?: DnsOptions;
};

export type FetchOptions = {
  method?: string;
  headers?: Record<string, string>;
  /** Buffered so a 307/308 can replay it. */
  body?: string | Uint8Array;
  /** 0 (the default) for webhooks; at most 3 for upload by URL. */
  maxRedirects?: number;
  connectTimeoutMs?: number;
  /** Covers every hop and the whole body, until it is read to the end. */
  totalTimeoutMs?: number;
  /** Enforced from Content-Length and again while streaming. */
  maxBytes?: number;
};

export type FetchResult = {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Size-capped and deadline-bound; errors with OutboundRefused('too_large' | 'timeout'). Destroy it if unread. */
  body: Readable;
  finalUrl: string;
};

export type Outbound = {
  fetchStream(url: string, options?: FetchOptions): Promise<FetchResult>;
  /** The policy alone, for forms that want to refuse early: does this address pass for this host? */
  isAddressAllowed(address: string, hostname?: string): boolean;
};

export const OUTBOUND_DEFAULTS = { maxRedirects: 0, connectTimeoutMs: 5_000, totalTimeoutMs: 30_000, maxBytes: 10 * 1024 * 1024 } as const;
export const MAX_REDIRECTS_LIMIT = 3;

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];
export type OutboundAllowList = { hosts: ReadonlySet<string>; cidrs: readonly Cidr[] };

/** Metadata endpoints stay closed even when a broad CIDR is allowed (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba). */
const ALWAYS_REFUSED: Cidr[] = [ipaddr.parseCIDR('169.254.169.254/32'), ipaddr.parseCIDR('fd00:ec2::254/128'), ipaddr.parseCIDR('100.100.100.200/32')];


/** Parses OUTBOUND_ALLOW entries; throws naming the bad entry (config can call it to fail fast). */
export function parseOutboundAllow(entries: readonly string[]): OutboundAllowList {
  const hosts = new Set<string>();
  const cidrs: Cidr[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry.includes('/')) {
      try {
        cidrs.push(ipaddr.parseCIDR(entry));
      } catch {
        throw new Error(`OUTBOUND_ALLOW: "${entry}" is not a valid CIDR`);
      }
    } else if (ipaddr.isValid(normalizeHost(entry)) && net.isIP(normalizeHost(entry)) !== 0) {
      const addr = ipaddr.parse(normalizeHost(entry));
      cidrs.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(entry)) {
      hosts.add(normalizeHost(entry));
    } else {
      throw new Error(`OUTBOUND_ALLOW: "${entry}" is neither a host name, an IP address nor a CIDR`);
    }
  }
  return { hosts, cidrs };
}

const inRanges = (addr: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Cidr[]): boolean =>
  ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));

/** IPv6 forms that carry an IPv4 address in their last 32 bits: judged as that IPv4 address. */
const IPV4_CARRIERS: Cidr[] = [
  ipaddr.parseCIDR('::ffff:0:0/96'), // IPv4-mapped
  ipaddr.parseCIDR('::/96'), // IPv4-compatible (deprecated, still routed by some stacks)
  ipaddr.parseCIDR('64:ff9b::/96'), // NAT64 well-known prefix (RFC 6052)
  ipaddr.parseCIDR('64:ff9b:1::/48'), // NAT64 local-use prefix (RFC 8215)
  ipaddr.parseCIDR('::ffff:0:0:0/96'), // SIIT IPv4-translated (RFC 6145)
];

function embeddedIPv4(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (addr.kind() !== 'ipv6' || !inRanges(addr, IPV4_CARRIERS)) return addr;
  // "::" and "::1" sit in ::/96 too: as 0.0.0.0 and 0.0.0.1 they fall in 0.0.0.0/8, which is refused like them.
  return new ipaddr.IPv4((addr as ipaddr.IPv6).toByteArray().slice(12, 16));
}

/** The policy. `hostAllowed`: the URL's host name is listed in OUTBOUND_ALLOW. */
function checkAddress(address: string, allow: OutboundAllowList, hostAllowed: boolean): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(address.replace(/%.*$/, ''));
  } catch {
    return false;
  }
  addr = embeddedIPv4(addr);
  const range = addr.range();
  if (range === 'unspecified' || inRanges(addr, ALWAYS_REFUSED)) return false;
  if (hostAllowed || inRanges(addr, allow.cidrs)) return true;
  return range === 'unicast';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

export function createOutbound(options: OutboundOptions): Outbound {
  const allow = parseOutboundAllow(options.allow);
  const resolver = options.resolver ?? createDnsResolver(options.dns);
  const isHostAllowed = (hostname: string): boolean => allow.hosts.has(normalizeHost(hostname));
  const isAddressAllowed = (address: string, hostname?: string): boolean =>
    checkAddress(address, allow, hostname !== undefined && isHostAllowed(hostname));

  /**
   * net's lookup hook: resolve, check every address, hand back only checked ones. `signal` is the request's: when
   * its deadline passes the lookup is cancelled and answers a timeout at once, whatever the resolver does.
   */
  const guardedLookup =
    (signal: AbortSignal | undefined) =>
    (hostname: string, opts: dns.LookupOptions, cb: LookupCallback): void => {
      let done = false;
      const finish = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        cb(err, address, family);
      };
      const onAbort = () => finish(new OutboundRefused('timeout', `${hostname}: lookup past the deadline`), '');
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      resolver(hostname, signal).then(
        (found) => {
          const wanted = opts.family === 4 || opts.family === 6 ? found.filter((a) => a.family === opts.family) : found;
          if (wanted.length === 0) return finish(new OutboundRefused('dns', `${hostname}: no address`), '');
          const refused = wanted.find((a) => !isAddressAllowed(a.address, hostname));
          if (refused) return finish(new OutboundRefused('address', `${hostname} resolved to ${refused.address}`), '');
          if (opts.all) return finish(null, wanted.map((a) => ({ address: a.address, family: a.family })));
          const first = wanted[0]!;
          finish(null, first.address, first.family);
        },
        (err: NodeJS.ErrnoException) => finish(new OutboundRefused(err.code === 'EBUSY' ? 'busy' : 'dns', `${hostname}: ${err.code ?? err.message}`), ''),
      );
    };

  /** Agents that force the guarded lookup on every connection, whatever the request options say. */
  type ConnectCallback = (err: Error | null, stream: Duplex) => void;
  const guardConnection = <O extends http.ClientRequestArgs>(o: O, cb: ConnectCallback | undefined, create: (o: O) => Duplex | null | undefined) => {
    const host = normalizeHost(o.host ?? o.hostname ?? '');
    if (net.isIP(host) !== 0 && !isAddressAllowed(host, host)) {
      const socket = new net.Socket();
      const err = new OutboundRefused('address', `literal ${host}`);
      if (cb) cb(err, socket);
      else socket.destroy(err);
      return socket;
    }
    // The request's deadline signal rides in the options (see requestOnce); the lookup is ours whatever they say.
    const signal = (o as { outboundSignal?: AbortSignal }).outboundSignal;
    return create({ ...o, lookup: guardedLookup(signal) as net.LookupFunction });
  };
  class GuardedHttpAgent extends http.Agent {
    override createConnection(o: http.ClientRequestArgs, cb?: ConnectCallback): Duplex | null | undefined {
      return guardConnection(o, cb, (opts) => super.createConnection(opts, cb));
    }
  }
  class GuardedHttpsAgent extends https.Agent {
    override createConnection(o: https.RequestOptions, cb?: ConnectCallback): Duplex | null | undefined {
      return guardConnection(o, cb, (opts) => super.createConnection(opts, cb));
    }
  }
  const httpAgent = new GuardedHttpAgent({ keepAlive: false });
  const httpsAgent = new GuardedHttpsAgent({ keepAlive: false });

  const refuse = (err: OutboundRefused): OutboundRefused => {
    // The reason only: the host a user asked for is theirs, and is not written to the log.
    options.logger?.warn({ reason: err.reason }, 'outbound request refused');
    return err;
  };

  async function fetchStream(rawUrl: string, fetchOptions: FetchOptions = {}): Promise<FetchResult> {
    const maxRedirects = Math.min(fetchOptions.maxRedirects ?? OUTBOUND_DEFAULTS.maxRedirects, MAX_REDIRECTS_LIMIT);
    const connectTimeoutMs = fetchOptions.connectTimeoutMs ?? OUTBOUND_DEFAULTS.connectTimeoutMs;
    const totalTimeoutMs = fetchOptions.totalTimeoutMs ?? OUTBOUND_DEFAULTS.totalTimeoutMs;
    const maxBytes = fetchOptions.maxBytes ?? OUTBOUND_DEFAULTS.maxBytes;

    let onDeadline: (err: OutboundRefused) => void = () => {};
    const deadline = setTimeout(() => onDeadline(refuse(new OutboundRefused('timeout', `total ${totalTimeoutMs} ms`))), totalTimeoutMs);
    try {
      let url = parseUrl(rawUrl);
      let method = (fetchOptions.method ?? 'GET').toUpperCase();
      let body = fetchOptions.body;
      let headers: Record<string, string> = { 'user-agent': 'Pixbin', ...lowerKeys(fetchOptions.headers ?? {}) };
      for (let hop = 0; ; hop++) {
        const res = await requestOnce(url, method, headers, body, connectTimeoutMs, (abort) => (onDeadline = abort));
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
          res.destroy();
          if (hop >= maxRedirects) throw refuse(new OutboundRefused('redirect', `${status} after ${hop} redirect(s)`, status));
          let next: URL;
          try {
            next = parseUrl(new URL(location, url).href);
          } catch (err) {
            // A Location with another scheme (ftp:, file:) is the redirect's fault, not the first URL's: "redirect".
            const detail = err instanceof OutboundRefused ? `Location refused: ${err.detail}` : 'unparseable Location';
            throw refuse(new OutboundRefused('redirect', detail, status));
          }
          if (next.origin !== url.origin) headers = dropKeys(headers, ['authorization', 'cookie', 'proxy-authorization']);
          if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
            method = method === 'HEAD' ? 'HEAD' : 'GET';
            body = undefined;
            headers = dropKeys(headers, ['content-type', 'content-length']);
          }
          url = next;
          continue;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          throw refuse(new OutboundRefused('too_large', `content-length ${declared} > ${maxBytes}`));
        }
        const capped = capStream(res, maxBytes, (err) => refuse(err));
        onDeadline = (err) => capped.destroy(err);
        const done = () => clearTimeout(deadline);
        capped.once('end', done).once('close', done).once('error', done);
        return { status, headers: res.headers, body: capped, finalUrl: url.href };
      }
    } catch (err) {
      clearTimeout(deadline);
      throw err;
    }
  }

  /** One hop: resolves with the response head, or rejects with a typed error. */
  function requestOnce(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Uint8Array | undefined,
    connectTimeoutMs: number,
    setAbort: (abort: (err: OutboundRefused) => void) => void,
  ): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const hostname = normalizeHost(url.hostname);
      // "localhost" and *.localhost are loopback by definition (RFC 6761), whatever a resolver says; refuse by name.
      const localName = (hostname === 'localhost' || hostname.endsWith('.localhost')) && !isHostAllowed(hostname);
      if (localName || (net.isIP(hostname) !== 0 && !isAddressAllowed(hostname, hostname))) {
        reject(refuse(new OutboundRefused('address', `literal ${hostname}`)));
        return;
      }
      const isHttps = url.protocol === 'https:';
      // Aborted with the request (connect or total deadline): a lookup still running is cancelled.
      const lookupAbort = new AbortController();
      const requestOptions: http.RequestOptions & { outboundSignal: AbortSignal } = {
        protocol: url.protocol,
        hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method,
        headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
        agent: isHttps ? httpsAgent : httpAgent,
        lookup: guardedLookup(lookupAbort.signal) as net.LookupFunction,
        outboundSignal: lookupAbort.signal,
        ...(isHttps && net.isIP(hostname) === 0 ? { servername: hostname } : {}),
      };
      const req = (isHttps ? https : http).request(requestOptions);
      let connectTimer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(connectTimer);
        lookupAbort.abort();
        req.destroy(err);
      };
      setAbort(fail);
      req.once('socket', (socket: net.Socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => fail(refuse(new OutboundRefused('timeout', `connect ${connectTimeoutMs} ms`))), connectTimeoutMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      req.once('response', (res) => {
        clearTimeout(connectTimer);
        resolve(res);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (err instanceof OutboundRefused) return reject(err.reason === 'address' || err.reason === 'dns' ? refuse(err) : err);
        reject(new OutboundFailed(`${hostname}: ${err.code ?? err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }

  return { fetchStream, isAddressAllowed };
}

/** http(s) only; no credentials in the URL (they would be sent as Basic auth by some clients). */
function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefused('scheme', 'unparseable URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefused('scheme', url.protocol);
  url.username = '';
  url.password = '';
  return url;
}

function capStream(source: http.IncomingMessage, maxBytes: number, onRefuse: (err: OutboundRefused) => OutboundRefused): Readable {
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) return cb(onRefuse(new OutboundRefused('too_large', `more than ${maxBytes} bytes`)));
      cb(null, chunk);
    },
  });
  source.on('error', (err: NodeJS.ErrnoException) =>
    limiter.destroy(err instanceof OutboundRefused ? err : new OutboundFailed(`response: ${err.code ?? err.message}`, { cause: err })),
  );
  limiter.on('close', () => source.destroy());
  source.pipe(limiter);
  return limiter;
}

const lowerKeys = (h: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
const dropKeys = (h: Record<string, string>, keys: string[]): Record<string, string> =>
  Object.fromEntries(Object.entries(h).filter(([k]) => !keys.includes(k)));
