import dns from 'node:dns';
import fsp from 'node:fs/promises';
import net from 'node:net';

/**
 * How the outbound module resolves user-supplied host names: /etc/hosts read directly, everything else through
 * c-ares, off libuv's thread pool and cancellable at the request's deadline (see createDnsResolver).
 */

/** A host as the resolver and the allow list compare it: lower case, no IPv6 brackets, no trailing dots. */
export const normalizeHost = (host: string): string => host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.+$/, '');

export type ResolvedAddress = { address: string; family: 4 | 6 };
/**
 * Name → addresses. `signal` aborts when the caller's deadline passes: the lookup must then end. The default is
 * createDnsResolver (c-ares, /etc/hosts read by us); tests inject their own.
 */
export type Resolver = (hostname: string, signal?: AbortSignal) => Promise<ResolvedAddress[]>;

export type DnsOptions = {
  /** DNS servers ("ip" or "ip:port"); the system's (/etc/resolv.conf) when absent. Tests point this at their own. */
  servers?: readonly string[];
  /** c-ares' timeout for one try, and how many tries: a backstop, the caller's deadline usually ends a lookup first. */
  timeoutMs?: number;
  tries?: number;
  /** Queries in flight at once for this resolver; beyond it a lookup fails at once (never queues behind a slow one). */
  maxInFlight?: number;
  /** Read for names it lists, as the system resolver would (cached HOSTS_FILE_CACHE_MS). */
  hostsFile?: string;
};

/** Once A (or AAAA) has answered, how long the other family may still take before its query is cancelled. */
const OTHER_FAMILY_GRACE_MS = 250;

export const DNS_DEFAULTS = { timeoutMs: 2_000, tries: 2, maxInFlight: 64, hostsFile: '/etc/hosts' } as const;
export const HOSTS_FILE_CACHE_MS = 5_000;

const LOOPBACK: readonly ResolvedAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

/** /etc/hosts as name → addresses (names lower-cased, comments and malformed lines skipped). */
export function parseHostsFile(text: string): Map<string, ResolvedAddress[]> {
  const table = new Map<string, ResolvedAddress[]>();
  for (const line of text.split(/\r?\n/)) {
    const [address, ...names] = line.replace(/#.*$/, '').trim().split(/\s+/);
    const family = net.isIP(address?.replace(/%.*$/, '') ?? '');
    if (!address || family === 0) continue;
    for (const name of names) {
      const key = normalizeHost(name);
      const list = table.get(key) ?? [];
      if (!list.some((a) => a.address === address)) list.push({ address, family: family === 6 ? 6 : 4 });
      table.set(key, list);
    }
  }
  return table;
}

/**
 * The default resolver: names in /etc/hosts (and localhost) from the file, everything else through c-ares
 * (dns.promises.Resolver: A and AAAA), which does not use libuv's thread pool, so a DNS server that never answers
 * occupies no thread that file reads or sharp wait for. Each lookup gets its own channel, cancelled when the caller's
 * signal aborts, so a lookup never outlives its request's deadline; nothing is shared across instances.
 */
export function createDnsResolver(options: DnsOptions = {}): Resolver {
  const timeoutMs = options.timeoutMs ?? DNS_DEFAULTS.timeoutMs;
  const tries = options.tries ?? DNS_DEFAULTS.tries;
  const maxInFlight = options.maxInFlight ?? DNS_DEFAULTS.maxInFlight;
  const hostsFile = options.hostsFile ?? DNS_DEFAULTS.hostsFile;
  let hosts: { readAt: number; table: Promise<Map<string, ResolvedAddress[]>> } | null = null;
  const hostsTable = (): Promise<Map<string, ResolvedAddress[]>> => {
    if (!hosts || Date.now() - hosts.readAt > HOSTS_FILE_CACHE_MS) {
      hosts = { readAt: Date.now(), table: fsp.readFile(hostsFile, 'utf8').then(parseHostsFile, () => new Map()) };
    }
    return hosts.table;
  };
  let inFlight = 0;

  return async (hostname, signal) => {
    const name = normalizeHost(hostname);
    const listed = (await hostsTable()).get(name);
    if (listed) return listed;
    if (name === 'localhost' || name.endsWith('.localhost')) return [...LOOPBACK];
    if (signal?.aborted) throw dnsError('ECANCELLED', name);
    if (inFlight >= maxInFlight) throw dnsError('EBUSY', name);
    inFlight += 1;
    const channel = new dns.promises.Resolver({ timeout: timeoutMs, tries });
    const cancel = () => channel.cancel();
    try {
      if (options.servers) channel.setServers([...options.servers]);
      signal?.addEventListener('abort', cancel, { once: true });
      // A and AAAA together. Once one family has answered with addresses, the other gets a short grace rather than
      // c-ares' whole timeout: some servers (home routers, DNS64 set-ups) never answer AAAA at all.
      const results: { 4?: PromiseSettledResult<string[]>; 6?: PromiseSettledResult<string[]> } = {};
      let answered: () => void = () => undefined;
      const oneAnswered = new Promise<void>((resolve) => (answered = resolve));
      const query = (family: 4 | 6) =>
        (family === 4 ? channel.resolve4(name) : channel.resolve6(name)).then(
          (value) => {
            results[family] = { status: 'fulfilled', value };
            if (value.length > 0) answered();
          },
          (reason: unknown) => {
            results[family] = { status: 'rejected', reason };
          },
        );
      const both = Promise.all([query(4), query(6)]);
      await Promise.race([both, oneAnswered]);
      if (!results[4] || !results[6]) {
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([both, new Promise<void>((resolve) => (grace = setTimeout(resolve, OTHER_FAMILY_GRACE_MS)))]);
        clearTimeout(grace);
        if (!results[4] || !results[6]) channel.cancel();
      }
      const listed4 = results[4]?.status === 'fulfilled' ? results[4].value : [];
      const listed6 = results[6]?.status === 'fulfilled' ? results[6].value : [];
      const found: ResolvedAddress[] = [...listed4.map((address) => ({ address, family: 4 as const })), ...listed6.map((address) => ({ address, family: 6 as const }))];
      if (found.length > 0) return found;
      if (signal?.aborted) throw dnsError('ECANCELLED', name);
      const failed = [results[4], results[6]].find((r): r is PromiseRejectedResult => r?.status === 'rejected');
      throw failed ? failed.reason : dnsError('ENODATA', name);
    } finally {
      signal?.removeEventListener('abort', cancel);
      inFlight -= 1;
    }
  };
}

const dnsError = (code: string, hostname: string): NodeJS.ErrnoException => Object.assign(new Error(`${code} ${hostname}`), { code });

