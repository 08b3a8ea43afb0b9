/**
 * The SSRF suite for the one guarded way out (server/outbound/outbound.ts). Real HTTP servers on 127.0.0.1 are the
 * targets; they are reachable only when OUTBOUND_ALLOW lists them, so every refused payload also asserts that the
 * server saw no request at all. Names are resolved by an injected resolver (no real DNS), and the check runs on
 * what that resolver answers when the socket connects.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import {
  createDnsResolver,
  createOutbound,
  OutboundFailed,
  OutboundRefused,
  parseHostsFile,
  parseOutboundAllow,
  type OutboundRefusedReason,
  type Resolver,
} from '../../outbound/outbound.js';
import { until } from '../helpers/assertions.js';

type Target = { port: number; hits: string[]; url: (path: string) => string; close: () => Promise<void> };

/** A target server: /ok, /chain/N (N redirects), /redirect?status=&to=, /echo, /hang, /drip, /big, /big-declared. */
async function startTarget(): Promise<Target> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push(`${req.method} ${url.pathname}`);
    const chain = /^\/chain\/(\d+)$/.exec(url.pathname);
    if (url.pathname === '/ok') {
      res.end('hello');
    } else if (chain) {
      const n = Number(chain[1]);
      if (n === 0) res.end('end of chain');
      else res.writeHead(302, { location: `/chain/${n - 1}` }).end();
    } else if (url.pathname === '/redirect') {
      res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/' }).end();
    } else if (url.pathname === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })));
    } else if (url.pathname === '/hang') {
      // Accepts and never answers.
    } else if (url.pathname === '/drip') {
      res.writeHead(200);
      res.write('x');
      // Then nothing more: the body never ends.
    } else if (url.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const pump = (): void => {
        while (sent < 2 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (sent = Infinity));
      pump();
    } else if (url.pathname === '/reset') {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial', () => req.socket.destroy());
    } else if (url.pathname === '/big-declared') {
      res.writeHead(200, { 'content-length': String(5 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hits,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Maps names to fixed answers; anything else is NXDOMAIN. Counts lookups per name. */
function fakeResolver(table: Record<string, string | string[] | (() => string)>): Resolver & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const resolver = async (hostname: string) => {
    calls[hostname] = (calls[hostname] ?? 0) + 1;
    const entry = table[hostname];
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const list = typeof entry === 'function' ? [entry()] : Array.isArray(entry) ? entry : [entry];
    return list.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }));
  };
  return Object.assign(resolver, { calls });
}


type DnsServer = { server: string; queries: string[]; close: () => Promise<void> };

/**
 * A tiny DNS server on 127.0.0.1 (UDP): A queries for names in `a` get those addresses; AAAA queries for them get an
 * empty answer (NODATA); names in `silent` get no answer at all, ever, and names in `silentAaaa` none to AAAA
 * queries (as some home routers do); anything else gets NXDOMAIN.
 */
async function startDns(a: Record<string, string>, silent: readonly string[] = [], silentAaaa: readonly string[] = []): Promise<DnsServer> {
  const queries: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    const labels: string[] = [];
    let at = 12;
    while (at < msg.length && msg[at] !== 0) {
      labels.push(msg.subarray(at + 1, at + 1 + msg[at]!).toString('ascii'));
      at += 1 + msg[at]!;
    }
    const questionEnd = at + 5; // the 0 label, QTYPE, QCLASS
    const name = labels.join('.').toLowerCase();
    const qtype = msg.readUInt16BE(at + 1);
    queries.push(`${qtype === 28 ? 'AAAA' : qtype === 1 ? 'A' : qtype} ${name}`);
    if (silent.includes(name) || (qtype === 28 && silentAaaa.includes(name))) return;
    const address = a[name];
    const answers = address !== undefined && qtype === 1 ? [address] : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(0x8180 | (address === undefined ? 3 : 0), 2); // response, RD, RA; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records = answers.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6); // TTL
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      return rr;
    });
    socket.send(Buffer.concat([header, msg.subarray(12, questionEnd), ...records]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { server: `127.0.0.1:${socket.address().port}`, queries, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

async function refusal(promise: Promise<unknown>): Promise<OutboundRefused> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof OutboundRefused) return err;
    throw err;
  }
  throw new Error('expected the request to be refused, it went through');
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function expectRefused(promise: Promise<unknown>, reason: OutboundRefusedReason): Promise<OutboundRefused> {
  const err = await refusal(promise);
  expect(err.reason, err.detail).to.equal(reason);
  return err;
}

describe('outbound: the one guarded way out', () => {
  let target: Target;
  beforeEach(async () => {
    target = await startTarget();
  });
  afterEach(async () => {
    await target.close();
  });

  describe('with OUTBOUND_ALLOW empty, the classic SSRF payloads are refused before any byte leaves', () => {
    const payloads = (port: number): string[] => [
      `http://127.0.0.1:${port}/ok`,
      `http://2130706433:${port}/ok`, // decimal
      `http://0177.0.0.1:${port}/ok`, // octal
      `http://0x7f.0.0.1:${port}/ok`, // hex
      `http://0x7f000001:${port}/ok`,
      `http://127.1:${port}/ok`,
      `http://0.0.0.0:${port}/ok`,
      `http://0:${port}/ok`,
      `http://localhost:${port}/ok`,
      `http://localhost.:${port}/ok`, // trailing dot
      `http://LOCALHOST.:${port}/ok`,
      `http://pixbin.localhost:${port}/ok`,
      `http://[::1]:${port}/ok`,
      `http://[::]:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`, // IPv4-mapped IPv6
      `http://[::ffff:7f00:1]:${port}/ok`,
      `http://[0:0:0:0:0:ffff:127.0.0.1]:${port}/ok`,
      `http://[fe80::1]:${port}/ok`, // link-local
      `http://[fd00::1]:${port}/ok`, // unique local
      `http://[fd00:ec2::254]/latest/meta-data/`, // AWS metadata, IPv6
      `http://169.254.169.254/latest/meta-data/`, // cloud metadata
      `http://100.64.0.1/`, // CGNAT
      `http://224.0.0.1/`, // multicast
      `http://255.255.255.255/`,
      `http://10.0.0.1/`,
      `http://172.16.0.1/`,
      `http://192.168.1.1/`,
      `http://[64:ff9b::7f00:1]/`, // NAT64 of 127.0.0.1
      `http://[2002:7f00:1::]/`, // 6to4 of 127.0.0.1
      `http://[::7f00:1]:${port}/ok`, // IPv4-compatible form of 127.0.0.1
      `http://[::a9fe:a9fe]/`, // IPv4-compatible form of 169.254.169.254
      `http://[64:ff9b:1::a9fe:a9fe]/`, // NAT64 local-use prefix, metadata
      `https://127.0.0.1:${port}/ok`,
    ];

    it('refuses every literal and loopback-name payload with reason "address"', async () => {
      const outbound = createOutbound({ allow: [], resolver: fakeResolver({}) });
      for (const url of payloads(target.port)) {
        const err = await refusal(outbound.fetchStream(url, { connectTimeoutMs: 1000, totalTimeoutMs: 2000 }));
        expect(err.reason, url).to.equal('address');
        expect(err.kind).to.equal('unprocessable');
        expect(err.message, 'the message never names the address').not.to.match(/127|::|169\.254/);
      }
      expect(target.hits).to.deep.equal([]);
    });

    it('refuses "localhost." through the real system resolver too', async () => {
      const outbound = createOutbound({ allow: [] });
      await expectRefused(outbound.fetchStream(`http://localhost.:${target.port}/ok`), 'address');
      await expectRefused(outbound.fetchStream(`http://localhost:${target.port}/ok`), 'address');
      expect(target.hits).to.deep.equal([]);
    });

    it('refuses a DNS name that resolves to 127.0.0.1, checked in the connection lookup', async () => {
      const resolver = fakeResolver({ 'evil.example': '127.0.0.1', 'mapped.example': '::ffff:127.0.0.1', 'meta.example': '169.254.169.254' });
      const outbound = createOutbound({ allow: [], resolver });
      await expectRefused(outbound.fetchStream(`http://evil.example:${target.port}/ok`), 'address');
      await expectRefused(outbound.fetchStream(`http://mapped.example:${target.port}/ok`), 'address');
      await expectRefused(outbound.fetchStream(`http://meta.example/latest/meta-data/`), 'address');
      await expectRefused(outbound.fetchStream(`https://evil.example:${target.port}/ok`), 'address');
      expect(resolver.calls['evil.example']).to.equal(2);
      expect(target.hits).to.deep.equal([]);
    });

    it('refuses a name when any of its addresses is private, not just the first', async () => {
      const outbound = createOutbound({ allow: [], resolver: fakeResolver({ 'mixed.example': ['93.184.216.34', '10.0.0.7'] }) });
      await expectRefused(outbound.fetchStream('http://mixed.example/'), 'address');
    });

    it('logs the reason of a refusal, never the host or address', async () => {
      const logged: object[] = [];
      const outbound = createOutbound({ allow: [], resolver: fakeResolver({ 'evil.example': '127.0.0.1' }), logger: { warn: (obj) => logged.push(obj) } });
      await expectRefused(outbound.fetchStream('http://evil.example/secret-path'), 'address');
      expect(logged).to.deep.equal([{ reason: 'address' }]);
    });

    it('answers "dns" for a name that does not resolve', async () => {
      const outbound = createOutbound({ allow: [], resolver: fakeResolver({}) });
      await expectRefused(outbound.fetchStream('http://no-such-host.example/'), 'dns');
    });
  });

  describe('schemes', () => {
    it('refuses anything but http and https', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1'] });
      for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1:70/_x', 'data:text/plain,hi', 'javascript:alert(1)', 'ws://127.0.0.1/', 'not a url']) {
        const err = await refusal(outbound.fetchStream(url));
        expect(err.reason, url).to.equal('scheme');
      }
    });

    it('refuses a redirect to a non-http scheme as a refused redirect (the first URL was fine), with its status', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      for (const to of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1:70/_x']) {
        const err = await expectRefused(outbound.fetchStream(target.url(`/redirect?to=${encodeURIComponent(to)}`), { maxRedirects: 3 }), 'redirect');
        expect(err.status, to).to.equal(302);
      }
      expect(target.hits.every((h) => h === 'GET /redirect')).to.equal(true);
    });
  });

  describe('OUTBOUND_ALLOW', () => {
    it('lets a listed CIDR, IP or host name through', async () => {
      for (const allow of [['127.0.0.1/32'], ['127.0.0.0/8', 'fd00::/8'], ['127.0.0.1']]) {
        const outbound = createOutbound({ allow });
        const res = await outbound.fetchStream(target.url('/ok'));
        expect(res.status).to.equal(200);
        expect(await readAll(res.body)).to.equal('hello');
        expect(res.finalUrl).to.equal(target.url('/ok'));
      }
      const byName = createOutbound({ allow: ['homeassistant.lan'], resolver: fakeResolver({ 'homeassistant.lan': '127.0.0.1' }) });
      const res = await byName.fetchStream(`http://HomeAssistant.lan.:${target.port}/ok`);
      expect(await readAll(res.body)).to.equal('hello');
      expect(target.hits).to.have.length(4);
    });

    it('allows only what is listed: a neighbour of the listed address stays refused', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.2/32', 'homeassistant.lan'], resolver: fakeResolver({ 'other.lan': '127.0.0.1' }) });
      await expectRefused(outbound.fetchStream(target.url('/ok')), 'address');
      await expectRefused(outbound.fetchStream(`http://other.lan:${target.port}/ok`), 'address');
      expect(target.hits).to.deep.equal([]);
    });

    it('never opens 0.0.0.0, :: or the metadata endpoints, even under 0.0.0.0/0', async () => {
      const outbound = createOutbound({ allow: ['0.0.0.0/0', '::/0'] });
      for (const url of [`http://0.0.0.0:${target.port}/ok`, `http://[::]:${target.port}/ok`, 'http://169.254.169.254/', 'http://[fd00:ec2::254]/', 'http://[64:ff9b::a9fe:a9fe]/']) {
        expect((await refusal(outbound.fetchStream(url, { connectTimeoutMs: 500 }))).reason, url).to.equal('address');
      }
      expect(outbound.isAddressAllowed('127.0.0.1')).to.equal(true);
    });

    it('rejects a malformed entry, naming it', () => {
      expect(() => parseOutboundAllow(['10.0.0.0/33'])).to.throw(/10\.0\.0\.0\/33/);
      expect(() => parseOutboundAllow(['http://x'])).to.throw(/http:\/\/x/);
      expect(parseOutboundAllow([' 10.0.0.0/8 ', '', 'Bot.Local.']).hosts.has('bot.local')).to.equal(true);
    });
  });

  describe('redirects', () => {
    it('follows none by default (webhooks): a 3xx is refused with its status, the target never hit', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      const err = await expectRefused(outbound.fetchStream(target.url('/chain/1')), 'redirect');
      expect(err.status).to.equal(302);
      expect(target.hits).to.deep.equal(['GET /chain/1']);
    });

    it('follows at most 3 for upload by URL, and never more than 3 whatever is asked', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      const res = await outbound.fetchStream(target.url('/chain/3'), { maxRedirects: 3 });
      expect(await readAll(res.body)).to.equal('end of chain');
      expect(res.finalUrl).to.equal(target.url('/chain/0'));
      await expectRefused(outbound.fetchStream(target.url('/chain/4'), { maxRedirects: 3 }), 'redirect');
      await expectRefused(outbound.fetchStream(target.url('/chain/4'), { maxRedirects: 50 }), 'redirect');
    });

    it('re-checks every hop: a redirect to a private address is refused though the first hop was allowed', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'], resolver: fakeResolver({ 'lan.example': '10.1.2.3' }) });
      const port = target.port;
      for (const to of [`http://[::1]:${port}/ok`, `http://127.0.0.2:${port}/ok`, 'http://169.254.169.254/latest/meta-data/', `http://[::ffff:127.0.0.2]:${port}/ok`, 'http://lan.example/', `http://0.0.0.0:${port}/ok`]) {
        for (const status of [301, 302, 303, 307, 308]) {
          const url = target.url(`/redirect?status=${status}&to=${encodeURIComponent(to)}`);
          expect((await refusal(outbound.fetchStream(url, { maxRedirects: 3, connectTimeoutMs: 500 }))).reason, `${status} → ${to}`).to.equal('address');
        }
      }
      expect(target.hits.every((h) => h === 'GET /redirect')).to.equal(true);
    });

    it('resolves again on every hop, so a name that rebinds to loopback mid-chain is caught', async () => {
      let answers = 0;
      const resolver = fakeResolver({ 'rebind.example': () => (answers++ === 0 ? '127.0.0.1' : '127.0.0.2') });
      const outbound = createOutbound({ allow: ['127.0.0.1/32'], resolver });
      await expectRefused(outbound.fetchStream(`http://rebind.example:${target.port}/chain/2`, { maxRedirects: 3 }), 'address');
      expect(resolver.calls['rebind.example']).to.equal(2);
      expect(target.hits).to.deep.equal(['GET /chain/2']);
    });

    it('turns a POST into a GET without body on 303, keeps it on 307, and drops credentials across origins', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'], resolver: fakeResolver({ 'other.example': '127.0.0.1' }) });
      const post = { method: 'POST', body: '{"a":1}', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer s3cret' }, maxRedirects: 1 };
      const seeOther = JSON.parse(await readAll((await outbound.fetchStream(target.url('/redirect?status=303&to=/echo'), post)).body));
      expect(seeOther).to.include({ method: 'GET', body: '' });
      const temporary = JSON.parse(await readAll((await outbound.fetchStream(target.url('/redirect?status=307&to=/echo'), post)).body));
      expect(temporary).to.include({ method: 'POST', body: '{"a":1}' });
      expect(temporary.headers.authorization).to.equal('Bearer s3cret');
      const crossOrigin = `http://other.example:${target.port}/echo`;
      const moved = JSON.parse(await readAll((await outbound.fetchStream(target.url(`/redirect?status=307&to=${encodeURIComponent(crossOrigin)}`), post)).body));
      expect(moved).to.include({ method: 'POST', body: '{"a":1}' });
      expect(moved.headers.authorization).to.equal(undefined);
    });
  });

  describe('DNS: c-ares with its own deadline, /etc/hosts read by us, no queue shared with anything', () => {
    let dnsServer: DnsServer;
    before(async () => {
      dnsServer = await startDns({ 'pics.test': '127.0.0.1', 'lan.test': '10.1.2.3', 'v4only.test': '127.0.0.1' }, ['stall.test', 'stall2.test', 'stall3.test', 'stall4.test'], ['v4only.test']);
    });
    after(() => dnsServer.close());
    // c-ares' own timeout far beyond every deadline below: what ends a stalled lookup there is the caller's deadline.
    const dns = () => ({ servers: [dnsServer.server], timeoutMs: 60_000, tries: 1 });

    it('resolves a name through the DNS server, checks the answer, and answers "dns" for NXDOMAIN', async () => {
      const allowed = createOutbound({ allow: ['127.0.0.1/32'], dns: dns() });
      const res = await allowed.fetchStream(`http://pics.test:${target.port}/ok`);
      expect(await readAll(res.body)).to.equal('hello');
      expect(dnsServer.queries).to.include.members(['A pics.test', 'AAAA pics.test']);
      const strict = createOutbound({ allow: [], dns: dns() });
      await expectRefused(strict.fetchStream(`http://pics.test:${target.port}/ok`), 'address');
      await expectRefused(strict.fetchStream('http://lan.test/'), 'address');
      await expectRefused(strict.fetchStream('http://no-such-name.test/'), 'dns');
      expect(target.hits).to.deep.equal(['GET /ok']);
    });

    it('ends a lookup the DNS server never answers at the caller’s deadline, without holding up other requests', async function () {
      this.timeout(30_000);
      const outbound = createOutbound({ allow: ['127.0.0.1/32'], dns: dns() });
      const DEADLINE_MS = 3_000; // generous: the other requests below must finish well within it on a busy machine
      const started = Date.now();
      const settledAt: number[] = [];
      // More stalled names than the old process-wide queue had slots (2).
      const stalled = ['stall.test', 'stall2.test', 'stall3.test', 'stall4.test'].map((name) =>
        expectRefused(outbound.fetchStream(`http://${name}/`, { totalTimeoutMs: DEADLINE_MS, connectTimeoutMs: 60_000 }), 'timeout').then((err) => {
          settledAt.push(Date.now() - started);
          return err;
        }),
      );
      await until(() => ['stall.test', 'stall2.test', 'stall3.test', 'stall4.test'].every((n) => dnsServer.queries.includes(`A ${n}`)), 'the stalled queries reach the DNS server');
      // While they hang: a literal IP, another name through the same DNS server and the same instance.
      const literal = await outbound.fetchStream(target.url('/ok'));
      expect(await readAll(literal.body)).to.equal('hello');
      const named = await outbound.fetchStream(`http://pics.test:${target.port}/ok`);
      expect(await readAll(named.body)).to.equal('hello');
      expect(settledAt, 'the others finished while every stalled lookup was still waiting').to.deep.equal([]);
      await Promise.all(stalled);
      // Each ended at its deadline (measured from when it started), long before c-ares' own 60 s.
      for (const at of settledAt) expect(at).to.be.within(DEADLINE_MS - 50, DEADLINE_MS + 10_000);
    });

    it('does not wait for an AAAA answer that never comes once A has answered (a short grace, not the resolver timeout)', async function () {
      this.timeout(30_000);
      const resolver = createDnsResolver(dns()); // c-ares would wait 60 s for the silent AAAA
      const started = Date.now();
      expect(await resolver('v4only.test')).to.deep.equal([{ address: '127.0.0.1', family: 4 }]);
      expect(Date.now() - started, 'answered after the grace, far from the 60 s timeout').to.be.below(10_000);
      expect(dnsServer.queries).to.include.members(['A v4only.test', 'AAAA v4only.test']);
    });

    it('cancels the query itself: a resolver with 2 slots is free again once its stalled lookups pass their deadline', async function () {
      this.timeout(30_000);
      const resolver = createDnsResolver({ ...dns(), maxInFlight: 2 });
      const aborts = [new AbortController(), new AbortController()];
      const stalled = aborts.map((c, i) => resolver(i === 0 ? 'stall.test' : 'stall2.test', c.signal).then(() => 'resolved', (err: NodeJS.ErrnoException) => err.code));
      // A third lookup while both slots hang is refused at once rather than queued behind them.
      const busy = await resolver('pics.test').then(() => 'resolved', (err: NodeJS.ErrnoException) => err.code);
      expect(busy).to.equal('EBUSY');
      for (const c of aborts) c.abort();
      expect(await Promise.all(stalled)).to.deep.equal(['ECANCELLED', 'ECANCELLED']);
      expect(await resolver('pics.test')).to.deep.equal([{ address: '127.0.0.1', family: 4 }]);
    });

    it('answers names in /etc/hosts (and localhost) from the file, never asking the DNS server', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-hosts-'));
      try {
        const hostsFile = path.join(dir, 'hosts');
        await fs.writeFile(hostsFile, '# a comment\n127.0.0.5 printer.home Printer.Lan # trailing\n::1 printer.home\nnot-an-ip broken\n');
        const before = dnsServer.queries.length;
        const resolver = createDnsResolver({ ...dns(), hostsFile });
        expect(await resolver('PRINTER.lan.')).to.deep.equal([{ address: '127.0.0.5', family: 4 }]);
        expect(await resolver('printer.home')).to.deep.equal([
          { address: '127.0.0.5', family: 4 },
          { address: '::1', family: 6 },
        ]);
        expect(await resolver('localhost')).to.deep.include({ address: '127.0.0.1', family: 4 });
        expect(dnsServer.queries.length, 'no query reached the DNS server').to.equal(before);
        expect(parseHostsFile('not-an-ip broken').size).to.equal(0);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
      // The default resolver reads the real /etc/hosts: localhost, allowed by name, is reached as before.
      const outbound = createOutbound({ allow: ['localhost'] });
      const res = await outbound.fetchStream(`http://localhost:${target.port}/ok`);
      expect(await readAll(res.body)).to.equal('hello');
    });
  });

  describe('limits', () => {
    it('gives up with "timeout" when a server accepts and never answers (total timeout)', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      await expectRefused(outbound.fetchStream(target.url('/hang'), { totalTimeoutMs: 300 }), 'timeout');
    });

    it('cuts a body that never ends at the total timeout', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      const res = await outbound.fetchStream(target.url('/drip'), { totalTimeoutMs: 300 });
      await expectRefused(readAll(res.body), 'timeout');
    });

    it('gives up with "timeout" when the connection is not made in time (connect timeout)', async () => {
      const stalled: Resolver = () => new Promise(() => {});
      const outbound = createOutbound({ allow: [], resolver: stalled });
      await expectRefused(outbound.fetchStream('http://slow.example/', { connectTimeoutMs: 200, totalTimeoutMs: 10_000 }), 'timeout');
    });

    it('aborts a body larger than maxBytes while streaming, and refuses a declared one up front', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      const res = await outbound.fetchStream(target.url('/big'), { maxBytes: 100_000 });
      let received = 0;
      const err = await refusal(
        (async () => {
          for await (const chunk of res.body) received += (chunk as Buffer).length;
        })(),
      );
      expect(err.reason).to.equal('too_large');
      expect(err.kind).to.equal('payload_too_large');
      expect(received).to.be.at.most(100_000);
      await expectRefused(outbound.fetchStream(target.url('/big-declared'), { maxBytes: 100_000 }), 'too_large');
      const small = await outbound.fetchStream(target.url('/ok'), { maxBytes: 5 });
      expect(await readAll(small.body)).to.equal('hello');
    });

    it('reports a body cut off by the remote end as OutboundFailed', async () => {
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      const res = await outbound.fetchStream(target.url('/reset'));
      try {
        await readAll(res.body);
        expect.fail('expected the body to fail');
      } catch (err) {
        expect(err).to.be.instanceOf(OutboundFailed);
      }
    });

    it('reports an unreachable allowed target as OutboundFailed, not as a refusal', async () => {
      const closed = await startTarget();
      const port = closed.port;
      await closed.close();
      const outbound = createOutbound({ allow: ['127.0.0.1/32'] });
      try {
        await outbound.fetchStream(`http://127.0.0.1:${port}/ok`);
        expect.fail('expected a failure');
      } catch (err) {
        expect(err).to.be.instanceOf(OutboundFailed);
      }
    });
  });
});
