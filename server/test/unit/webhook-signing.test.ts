import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, ROTATION_OVERLAP_MS, signedHeaders, signingSecrets } from '../../services/webhook-signing.js';
import { newMessageId, webhookBody } from '../../services/webhook-events.js';

/** Whether the standardwebhooks package accepts the delivery. */
const verifies = (secret: string, body: string, headers: Record<string, string>): boolean => {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
};

describe('webhook signing (Standard Webhooks), checked with the standardwebhooks package', () => {
  const body = webhookBody('image.uploaded', new Date(), { id: 'AbCdEf123456', url: 'https://pix.example/AbCdEf123456' });

  it('a delivery verifies with its endpoint’s secret; a tampered body, another id, a wrong secret or a stale timestamp do not', () => {
    const secret = newWebhookSecret();
    expect(secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = newMessageId();
    const headers = signedHeaders(signingSecrets({ secret, previousSecret: null, previousSecretUntil: null }, new Date()), id, new Date(), body);
    expect(Object.keys(headers).sort()).to.deep.equal(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(headers['webhook-id']).to.equal(id);
    expect(headers['webhook-signature']).to.match(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).to.deep.equal(JSON.parse(body));

    expect(verifies(secret, body.replace('AbCdEf123456', 'AbCdEf123457'), headers), 'tampered body').to.equal(false);
    expect(verifies(secret, `${body} `, headers), 'one more byte').to.equal(false);
    expect(verifies(secret, body, { ...headers, 'webhook-id': newMessageId() }), 'another message id').to.equal(false);
    expect(verifies(newWebhookSecret(), body, headers), 'wrong secret').to.equal(false);
    // standardwebhooks allows 5 minutes either way.
    const stale = signedHeaders([secret], id, new Date(Date.now() - 10 * 60_000), body);
    expect(verifies(secret, body, stale), 'ten minutes old').to.equal(false);
    const early = signedHeaders([secret], id, new Date(Date.now() + 10 * 60_000), body);
    expect(verifies(secret, body, early), 'ten minutes ahead').to.equal(false);
    expect(verifies(secret, body, signedHeaders([secret], id, new Date(Date.now() - 60_000), body)), 'a minute old').to.equal(true);
  });

  it('during a rotation both the old and the new secret verify; once the overlap is over only the new one does', () => {
    const old = newWebhookSecret();
    const current = newWebhookSecret();
    const now = new Date();
    const rotating = { secret: current, previousSecret: old, previousSecretUntil: new Date(now.getTime() + ROTATION_OVERLAP_MS) };
    expect(ROTATION_OVERLAP_MS).to.equal(24 * 3_600_000);
    const secrets = signingSecrets(rotating, now);
    expect(secrets).to.deep.equal([current, old]);
    const headers = signedHeaders(secrets, newMessageId(), now, body);
    expect(headers['webhook-signature']!.split(' ')).to.have.length(2);
    expect(verifies(current, body, headers), 'new secret').to.equal(true);
    expect(verifies(old, body, headers), 'old secret').to.equal(true);
    expect(verifies(newWebhookSecret(), body, headers), 'a third secret').to.equal(false);

    // 24 h after the rotation (the overlap ended a moment ago): only the new secret signs.
    const over = { ...rotating, previousSecretUntil: new Date(now.getTime() - 1) };
    expect(signingSecrets(over, now)).to.deep.equal([current]);
    expect(signingSecrets(rotating, new Date(now.getTime() + ROTATION_OVERLAP_MS))).to.deep.equal([current]);
    expect(signingSecrets(rotating, new Date(now.getTime() + ROTATION_OVERLAP_MS - 1))).to.deep.equal([current, old]);
    const after = signedHeaders(signingSecrets(over, now), newMessageId(), now, body);
    expect(verifies(current, body, after), 'new secret').to.equal(true);
    expect(verifies(old, body, after), 'old secret after the overlap').to.equal(false);
  });
});
