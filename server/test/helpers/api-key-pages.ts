import { expect } from 'chai';
import type { RawResponse } from './http.js';
import type { TestUser } from './accounts.js';

/** Any whole Pixbin API key in a text. */
export const FULL_KEY = /pxb_[0-9A-Za-z]{16}_[A-Za-z0-9_-]{43}/g;

export type KeyForm = { name?: string; scopes?: string[]; expires?: string; password?: string };

/** Sends the create form of /account/api-keys as a browser would (the password only when given). */
export function postCreateKey(user: Pick<TestUser, 'client'>, form: KeyForm = {}, options: { csrf?: boolean } = {}): Promise<RawResponse> {
  const fields: Array<[string, string]> = [['name', form.name ?? 'ShareX on my laptop']];
  for (const scope of form.scopes ?? ['images:read', 'images:write']) fields.push(['scopes', scope]);
  fields.push(['expires', form.expires ?? 'never']);
  if (form.password !== undefined) fields.push(['reauth_password', form.password]);
  return user.client.post('/account/api-keys', fields, { csrfPage: '/account/api-keys', csrf: options.csrf });
}

/** The one whole key on a creation page (it must be there exactly once). */
export function keyFromPage(html: string): { key: string; keyId: string; secret: string } {
  const keys = html.match(FULL_KEY) ?? [];
  expect(keys, 'the page shows the whole key exactly once').to.have.length(1);
  const key = keys[0]!;
  return { key, keyId: key.slice(4, 20), secret: key.slice(21) };
}

/** A data: URL's decoded text. */
export function decodeDataUrl(href: string): { mime: string; text: string } {
  const match = /^data:([^;,]+);base64,([A-Za-z0-9+/=]+)$/.exec(href);
  if (!match) throw new Error(`not a base64 data: URL: ${href.slice(0, 60)}`);
  return { mime: match[1]!, text: Buffer.from(match[2]!, 'base64').toString('utf8') };
}

/** The download links of a creation page: the ShareX file (parsed) and the shell script, with their file names. */
export function downloadsFromPage(html: string): { sxcu: Record<string, any>; sxcuName: string; script: string; scriptName: string } {
  const link = (id: string) => {
    const m = new RegExp(`id="${id}" href="([^"]+)" download="([^"]+)"`).exec(html);
    if (!m) throw new Error(`no ${id} link on the page`);
    return { href: m[1]!, name: m[2]! };
  };
  const sharex = link('sharex-download');
  const script = link('script-download');
  const sxcu = decodeDataUrl(sharex.href);
  expect(sxcu.mime).to.equal('application/json');
  return { sxcu: JSON.parse(sxcu.text) as Record<string, any>, sxcuName: sharex.name, script: decodeDataUrl(script.href).text, scriptName: script.name };
}
