import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Route } from 'playwright-core';

/**
 * A local stand-in for Cloudflare Turnstile: the siteverify endpoint (as Cloudflare documents it) and a
 * widget script for browser tests. Tokens for the one real secret are minted here, expire after 300 s and
 * are single use, except for retries that repeat the first verification's idempotency_key.
 */

/** Cloudflare's documented dummy secrets: always pass, always fail, always "already spent". */
export const TEST_SECRETS = {
  pass: '1x0000000000000000000000000000000AA',
  fail: '2x0000000000000000000000000000000AA',
  spent: '3x0000000000000000000000000000000AA',
} as const;
/** The token Cloudflare's dummy site keys produce. */
export const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';

export type FakeTurnstileMode = 'ok' | 'down' | 'hang' | 'garbage' | 'null';
export type SiteverifyRequest = { secret?: string; response?: string; remoteip?: string; idempotencyKey?: string };
export type FakeTurnstile = {
  /** The one non-dummy secret this fake accepts. */
  readonly secret: string;
  readonly verifyUrl: string;
  /** Every siteverify request whose body could be read, in order (also in the fault modes). */
  readonly requests: SiteverifyRequest[];
  /** ok: answer as Cloudflare; down: HTTP 500; hang: never answer; garbage: 200 with a body that is not JSON; null: 200 with the JSON literal null. */
  mode: FakeTurnstileMode;
  mint(claims?: { action?: string; hostname?: string }): string;
  widgetScript(options?: { tokens?: number }): string;
  close(): Promise<void>;
};

const PATH = '/turnstile/v0/siteverify';
const MAX_BODY = 16 * 1024;
const MAX_TOKEN = 2048;
const TOKEN_TTL_MS = 300_000;
const ACTION = /^[A-Za-z0-9_-]{0,32}$/; // what Cloudflare accepts as data-action

type Verdict = Record<string, unknown>;
/** action null: a widget token, whose action the page appends after the final dot (the page chooses it, as with the real widget). */
type TokenRecord = { action: string | null; hostname: string; issuedAt: number; spent?: { response: string; key?: string; verdict: Verdict } };

const failure = (...codes: string[]): Verdict => ({ success: false, 'error-codes': codes, messages: [] });

function newToken(): string {
  return `0.${randomBytes(360).toString('base64url')}.${randomBytes(16).toString('hex')}`;
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseFields(req: IncomingMessage, body: string): SiteverifyRequest | undefined {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
  let get: (name: string) => unknown;
  if ((req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return undefined;
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined;
    get = (name) => (json as Record<string, unknown>)[name];
  } else {
    const form = new URLSearchParams(body);
    get = (name) => form.get(name) ?? undefined;
  }
  return { secret: str(get('secret')), response: str(get('response')), remoteip: str(get('remoteip')), idempotencyKey: str(get('idempotency_key')) };
}

function send(res: ServerResponse, status: number, body: Verdict | string): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/html' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startFakeTurnstile(options: { now?: () => number } = {}): Promise<FakeTurnstile> {
  const now = options.now ?? Date.now;
  const secret = `0x4AAAAAAA${randomBytes(20).toString('base64url')}`;
  const tokens = new Map<string, TokenRecord>();
  const requests: SiteverifyRequest[] = [];

  function find(response: string): { record: TokenRecord; action: string } | undefined {
    const exact = tokens.get(response);
    if (exact?.action != null) return { record: exact, action: exact.action };
    const cut = response.lastIndexOf('.') + 1;
    const widget = tokens.get(response.slice(0, cut));
    const action = response.slice(cut);
    return widget && widget.action === null && ACTION.test(action) ? { record: widget, action } : undefined;
  }

  function verify({ secret: given, response, idempotencyKey }: SiteverifyRequest): Verdict {
    if (!given) return failure('missing-input-secret');
    const dummy = Object.values(TEST_SECRETS).includes(given as never);
    if (!dummy && given !== secret) return failure('invalid-input-secret');
    if (!response) return failure('missing-input-response');
    if (response.length > MAX_TOKEN) return failure('invalid-input-response');
    const success = (claims: { issuedAt: number; hostname: string; action: string }): Verdict => ({
      success: true,
      'error-codes': [],
      challenge_ts: new Date(claims.issuedAt).toISOString(),
      hostname: claims.hostname,
      action: claims.action,
      cdata: '',
      metadata: { interactive: false },
    });
    if (given === TEST_SECRETS.pass) return success({ issuedAt: now(), hostname: 'example.com', action: '' });
    if (given === TEST_SECRETS.fail) return failure('invalid-input-response');
    if (given === TEST_SECRETS.spent) return failure('timeout-or-duplicate');

    const found = find(response);
    if (!found) return failure('invalid-input-response');
    const { record, action } = found;
    if (now() - record.issuedAt > TOKEN_TTL_MS) return failure('timeout-or-duplicate');
    if (record.spent) {
      const retry = idempotencyKey !== undefined && record.spent.key === idempotencyKey && record.spent.response === response;
      return retry ? record.spent.verdict : failure('timeout-or-duplicate');
    }
    const verdict = success({ issuedAt: record.issuedAt, hostname: record.hostname, action });
    record.spent = { response, key: idempotencyKey, verdict };
    return verdict;
  }

  const fake = { mode: 'ok' as FakeTurnstileMode };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.url ?? '').split('?')[0] !== PATH || req.method !== 'POST') {
      req.resume();
      return send(res, req.method === 'POST' ? 404 : 405, failure('bad-request'));
    }
    const body = await readBody(req);
    if (body === null) return send(res, 413, failure('bad-request'));
    const fields = parseFields(req, body);
    if (!fields) return send(res, 400, failure('bad-request'));
    requests.push(fields);
    if (fake.mode === 'hang') return; // the socket stays open until the client gives up or close() runs
    if (fake.mode === 'down') return send(res, 500, '<html><body>500 Internal Server Error</body></html>');
    if (fake.mode === 'garbage') return send(res, 200, '<html><body>Just a moment...</body></html>');
    if (fake.mode === 'null') return send(res, 200, 'null');
    send(res, 200, verify(fields));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy()); // only an aborted upload of the body gets here
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  function mint({ action = 'upload', hostname = 'localhost' }: { action?: string; hostname?: string } = {}): string {
    const token = newToken();
    tokens.set(token, { action, hostname, issuedAt: now() });
    return token;
  }

  function widgetScript({ tokens: count = 5 }: { tokens?: number } = {}): string {
    const bases = Array.from({ length: count }, () => {
      const base = `${newToken()}.`;
      tokens.set(base, { action: null, hostname: 'localhost', issuedAt: now() });
      return base;
    });
    return WIDGET_SOURCE.replace('__TOKENS__', () => JSON.stringify(bases));
  }

  return Object.assign(fake, {
    secret,
    requests,
    mint,
    widgetScript,
    verifyUrl: `http://127.0.0.1:${port}${PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // hanging requests included
      }),
  });
}

/** Stands in for https://challenges.cloudflare.com/turnstile/v0/api.js: no network, no eval, no inline handlers or styles. */
const WIDGET_SOURCE = String.raw`(function () {
  'use strict';
  var bases = __TOKENS__;
  var widgets = [];
  var ACTION = /^[A-Za-z0-9_-]{0,32}$/;
  function notify(w, token) {
    var name = w.callback;
    if (!name) return;
    function call() {
      var fn = typeof name === 'function' ? name : window[name];
      if (typeof fn === 'function' && w.input.value === token) fn(token);
    }
    var ready = typeof name === 'function' || typeof window[name] === 'function' || document.readyState === 'complete';
    if (ready) setTimeout(call, 0); else window.addEventListener('load', call, { once: true });
  }
  function fill(w) {
    var base = ACTION.test(w.action) ? bases.shift() : undefined;
    var token = base ? base + w.action : '';
    w.input.value = token;
    w.label.textContent = token ? 'Test bot check \u2713' : 'Test bot check failed';
    if (token) notify(w, token);
  }
  function find(id) {
    if (id === undefined || id === null) return widgets[0];
    for (var i = 0; i < widgets.length; i++) if (widgets[i].id === String(id) || widgets[i].el === id) return widgets[i];
    return undefined;
  }
  function render(target, params) {
    var el = typeof target === 'string' ? document.querySelector(target) : target;
    if (!el) throw new Error('turnstile: container not found');
    var existing = find(el);
    if (existing) return existing.id;
    params = params || {};
    var label = document.createElement('span');
    label.className = 'fake-turnstile';
    label.setAttribute('role', 'status');
    var input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'cf-turnstile-response';
    el.appendChild(label);
    el.appendChild(input);
    var w = { id: String(widgets.length), el: el, label: label, input: input,
      action: params.action || el.getAttribute('data-action') || 'upload',
      callback: params.callback || el.getAttribute('data-callback') || null };
    widgets.push(w);
    fill(w);
    return w.id;
  }
  window.turnstile = {
    render: render,
    reset: function (id) { var w = find(id); if (w) fill(w); },
    getResponse: function (id) { var w = find(id); return w ? w.input.value : undefined; }
  };
  function renderAll() {
    var els = document.querySelectorAll('.cf-turnstile');
    for (var i = 0; i < els.length; i++) render(els[i]);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', renderAll); else renderAll();
})();
`;

/** Where pages load the widget from; browser tests answer it with the fake's script. */
export const WIDGET_URL = 'https://challenges.cloudflare.com/turnstile/v0/api.js';

/** The app settings that put the forms behind this fake (a site key of the test's own, not a Cloudflare dummy). */
export const turnstileEnv = (fake: FakeTurnstile): Record<string, string> => ({
  TURNSTILE_SITE_KEY: '0x4AAAAAAAbrowsertest',
  TURNSTILE_SECRET_KEY: fake.secret,
  TURNSTILE_VERIFY_URL: fake.verifyUrl,
});

/** hold(): from now on the widget script is served only once the returned release() is called. */
export type LocalWidget = { hold(tokens?: number): Promise<() => void> };

/**
 * Cloudflare is unreachable in tests: every host but localhost is aborted and the widget script is answered by the
 * fake, so nothing leaves the machine. Playwright tries the route added last first, so the catch-all comes first.
 */
export async function serveWidgetLocally(context: BrowserContext, fake: FakeTurnstile, { tokens }: { tokens: number }): Promise<LocalWidget> {
  const fulfill = (route: Route, count: number) => route.fulfill({ contentType: 'text/javascript', body: fake.widgetScript({ tokens: count }) });
  await context.route((url) => url.hostname !== 'localhost', (route) => route.abort());
  await context.route(WIDGET_URL, (route) => fulfill(route, tokens));
  return {
    async hold(count = tokens) {
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      await context.unroute(WIDGET_URL);
      await context.route(WIDGET_URL, async (route) => {
        await held;
        await fulfill(route, count);
      });
      return release;
    },
  };
}
