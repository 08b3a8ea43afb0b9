import { toPublicError } from '../../http/errors.js';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';
import { expect } from 'chai';
import { AppError } from '../../errors.js';
import { verifyTurnstile, type TurnstileCheck, type TurnstileSettings } from '../../services/turnstile.service.js';
import { DUMMY_TOKEN, startFakeTurnstile, TEST_SECRETS, type FakeTurnstile } from '../helpers/fake-turnstile.js';

async function expectAppError(promise: Promise<unknown>, status: number, code: string): Promise<AppError> {
  let caught: unknown = null;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected verifyTurnstile to reject').to.be.instanceOf(AppError);
  const err = caught as AppError;
  expect({ status: toPublicError(err).status, code: err.code }).to.deep.equal({ status, code });
  return err;
}

/** A port that was free a moment ago and has nothing listening on it now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type FakeNode = { [key: string]: unknown; children: FakeNode[] };

/** Runs the widget script against the smallest DOM it needs: one `.cf-turnstile` element with the given attributes. */
function runWidget(source: string, attributes: Record<string, string>) {
  const node = (): FakeNode => ({
    children: [],
    appendChild(child: FakeNode) {
      this.children.push(child);
      return child;
    },
    setAttribute(name: string, value: string) {
      (this as FakeNode)[name] = value;
    },
  });
  const container = Object.assign(node(), { getAttribute: (name: string) => attributes[name] ?? null });
  const callbackTokens: string[] = [];
  const window: Record<string, unknown> = { onBotCheck: (token: string) => callbackTokens.push(token), addEventListener() {} };
  const document = {
    readyState: 'complete',
    addEventListener() {},
    createElement: (tagName: string) => Object.assign(node(), { tagName }),
    querySelector: () => null,
    querySelectorAll: (selector: string) => (selector === '.cf-turnstile' ? [container] : []),
  };
  // The widget calls back from a timer; settled() resolves once every timer it set has run.
  let pending = 0;
  const idle: Array<() => void> = [];
  const widgetSetTimeout = (fn: () => void, ms?: number) => {
    pending += 1;
    return setTimeout(() => {
      try {
        fn();
      } finally {
        pending -= 1;
        if (!pending) for (const resolve of idle.splice(0)) resolve();
      }
    }, ms);
  };
  const settled = () => (pending ? new Promise<void>((resolve) => idle.push(resolve)) : Promise.resolve());
  vm.runInNewContext(source, { window, document, setTimeout: widgetSetTimeout });
  const turnstile = window.turnstile as { reset(): void; getResponse(): string | undefined };
  return { container, callbackTokens, turnstile, settled };
}

describe('verifyTurnstile against a local siteverify', () => {
  let fake: FakeTurnstile;
  let clock = Date.now();
  const settings = (overrides: Partial<TurnstileSettings> = {}): TurnstileSettings => ({
    secretKey: fake.secret,
    verifyUrl: fake.verifyUrl,
    timeoutMs: 2000,
    ...overrides,
  });
  const check = (token: unknown, overrides: Partial<TurnstileCheck> = {}): TurnstileCheck => ({
    token,
    remoteIp: '203.0.113.7',
    action: 'upload',
    hostname: 'localhost',
    ...overrides,
  });

  before(async () => {
    fake = await startFakeTurnstile({ now: () => clock });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.mode = 'ok';
    fake.requests.length = 0;
  });

  describe("Cloudflare's dummy secrets", () => {
    it('the always-pass secret accepts the dummy token (no action or hostname check)', async () => {
      await verifyTurnstile(settings({ secretKey: TEST_SECRETS.pass }), check(DUMMY_TOKEN));
      expect(fake.requests).to.deep.equal([{ secret: TEST_SECRETS.pass, response: DUMMY_TOKEN, remoteip: '203.0.113.7', idempotencyKey: undefined }]);
    });

    it('the always-fail secret answers 403 turnstile_failed', async () => {
      await expectAppError(verifyTurnstile(settings({ secretKey: TEST_SECRETS.fail }), check(DUMMY_TOKEN)), 403, 'turnstile_failed');
      expect(fake.requests).to.have.length(1);
    });

    it('the always-spent secret answers 403 turnstile_replayed', async () => {
      await expectAppError(verifyTurnstile(settings({ secretKey: TEST_SECRETS.spent }), check(DUMMY_TOKEN)), 403, 'turnstile_replayed');
    });
  });

  describe('a real secret with tokens minted by the fake', () => {
    it('passes once for the expected action and hostname, then answers 403 turnstile_replayed', async () => {
      const token = fake.mint({ action: 'upload', hostname: 'localhost' });
      await verifyTurnstile(settings(), check(token));
      await expectAppError(verifyTurnstile(settings(), check(token)), 403, 'turnstile_replayed');
      expect(fake.requests.map((r) => r.response)).to.deep.equal([token, token]);
    });

    it('rejects a token minted for another action with 403 turnstile_failed', async () => {
      await expectAppError(verifyTurnstile(settings(), check(fake.mint({ action: 'login' }))), 403, 'turnstile_failed');
    });

    it('rejects a token solved on another hostname with 403 turnstile_failed', async () => {
      await expectAppError(verifyTurnstile(settings(), check(fake.mint({ hostname: 'evil.example' }))), 403, 'turnstile_failed');
    });

    it('rejects a token Cloudflare never issued with 403 turnstile_failed', async () => {
      await expectAppError(verifyTurnstile(settings(), check(`${fake.mint()}x`)), 403, 'turnstile_failed');
      await expectAppError(verifyTurnstile(settings(), check(DUMMY_TOKEN)), 403, 'turnstile_failed');
    });

    it('treats a wrong secret as an operator problem: 503 turnstile_unavailable', async () => {
      await expectAppError(verifyTurnstile(settings({ secretKey: '0x4AAAAAAAnotTheRightSecret' }), check(fake.mint())), 503, 'turnstile_unavailable');
    });

    it('answers 403 turnstile_replayed for a token older than 300 seconds', async () => {
      const token = fake.mint();
      clock += 301_000;
      await expectAppError(verifyTurnstile(settings(), check(token)), 403, 'turnstile_replayed');
    });

    it('forwards the client IP as remoteip, and leaves it out when unknown', async () => {
      await verifyTurnstile(settings(), check(fake.mint(), { remoteIp: '2001:db8::1' }));
      await verifyTurnstile(settings(), check(fake.mint(), { remoteIp: undefined }));
      expect(fake.requests.map((r) => r.remoteip)).to.deep.equal(['2001:db8::1', undefined]);
    });
  });

  describe('tokens it refuses before asking Cloudflare', () => {
    for (const token of [undefined, '', '   ', 42, ['a']]) {
      it(`answers 400 turnstile_missing for ${JSON.stringify(token) ?? 'undefined'}`, async () => {
        await expectAppError(verifyTurnstile(settings(), check(token)), 400, 'turnstile_missing');
        expect(fake.requests).to.deep.equal([]);
      });
    }

    it('answers 403 turnstile_failed for a 3000-character token', async () => {
      await expectAppError(verifyTurnstile(settings(), check('a'.repeat(3000))), 403, 'turnstile_failed');
      expect(fake.requests).to.deep.equal([]);
    });
  });

  describe('when siteverify misbehaves it fails closed', () => {
    it('HTTP 500 → 503 turnstile_unavailable', async () => {
      fake.mode = 'down';
      await expectAppError(verifyTurnstile(settings(), check(fake.mint())), 503, 'turnstile_unavailable');
      expect(fake.requests).to.have.length(1);
    });

    it('a body that is not JSON → 503 turnstile_unavailable', async () => {
      fake.mode = 'garbage';
      await expectAppError(verifyTurnstile(settings(), check(fake.mint())), 503, 'turnstile_unavailable');
      expect(fake.requests).to.have.length(1);
    });

    it('a JSON null → 503 turnstile_unavailable', async () => {
      fake.mode = 'null';
      await expectAppError(verifyTurnstile(settings(), check(fake.mint())), 503, 'turnstile_unavailable');
    });

    it('no answer → 503 turnstile_unavailable once timeoutMs passes', async function () {
      this.timeout(2000);
      fake.mode = 'hang';
      await expectAppError(verifyTurnstile(settings({ timeoutMs: 300 }), check(fake.mint())), 503, 'turnstile_unavailable');
      expect(fake.requests).to.have.length(1); // it was heard, and never answered
    });

    it('nothing listening → 503 turnstile_unavailable', async () => {
      const url = `http://127.0.0.1:${await closedPort()}/turnstile/v0/siteverify`;
      await expectAppError(verifyTurnstile(settings({ verifyUrl: url }), check(fake.mint())), 503, 'turnstile_unavailable');
    });
  });

  describe('the widget script', () => {
    it('fills the hidden field and the callback with a token that verifies once; reset() gives a fresh one', async () => {
      const { container, callbackTokens, turnstile, settled } = runWidget(fake.widgetScript({ tokens: 2 }), { 'data-action': 'upload', 'data-callback': 'onBotCheck' });
      const [label, input] = container.children;
      expect(label).to.include({ tagName: 'span', role: 'status', textContent: 'Test bot check ✓' });
      expect(input).to.include({ tagName: 'input', type: 'hidden', name: 'cf-turnstile-response' });
      const first = turnstile.getResponse();
      expect(first).to.be.a('string').and.equal(input!.value);
      await settled();
      expect(callbackTokens).to.deep.equal([first]);

      await verifyTurnstile(settings(), check(first));
      await expectAppError(verifyTurnstile(settings(), check(first)), 403, 'turnstile_replayed');

      turnstile.reset();
      const second = turnstile.getResponse();
      expect(second).to.be.a('string').and.not.equal(first);
      await settled();
      expect(callbackTokens).to.deep.equal([first, second]);
      await verifyTurnstile(settings(), check(second));
    });

    it("binds the token to the element's data-action", async () => {
      const { turnstile } = runWidget(fake.widgetScript({ tokens: 1 }), { 'data-action': 'comment' });
      await expectAppError(verifyTurnstile(settings(), check(turnstile.getResponse())), 403, 'turnstile_failed');
    });
  });

  describe('the fake itself (what verifyTurnstile never sends)', () => {
    const post = async (body: unknown) => {
      const res = await fetch(fake.verifyUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    it('accepts JSON bodies, names missing fields, and honours idempotency_key retries', async () => {
      expect((await post({ response: 'x' })).body['error-codes']).to.deep.equal(['missing-input-secret']);
      expect((await post({ secret: fake.secret })).body['error-codes']).to.deep.equal(['missing-input-response']);
      const token = fake.mint();
      const first = await post({ secret: fake.secret, response: token, idempotency_key: 'k1' });
      expect(first.status).to.equal(200);
      expect(first.body).to.include({ success: true, hostname: 'localhost', action: 'upload', cdata: '' });
      expect((await post({ secret: fake.secret, response: token, idempotency_key: 'k1' })).body).to.deep.equal(first.body);
      expect((await post({ secret: fake.secret, response: token, idempotency_key: 'k2' })).body['error-codes']).to.deep.equal(['timeout-or-duplicate']);
      expect((await post({ secret: fake.secret, response: token })).body['error-codes']).to.deep.equal(['timeout-or-duplicate']);
    });

    it('refuses bodies over 16 KiB with 413', async () => {
      expect((await post({ secret: fake.secret, response: 'x'.repeat(17 * 1024) })).status).to.equal(413);
    });
  });
});
