import { escapeHtmlAttribute as esc } from '../lib/snippets.js';
import type { Mail } from './mailer.service.js';

/** Plain text plus simple HTML; every dynamic value is escaped in the HTML part. */
function compose(to: string, subject: string, paragraphs: string[], action: { label: string; url: string }): Mail {
  const text = [...paragraphs.slice(0, 1), `${action.label}: ${action.url}`, ...paragraphs.slice(1)].join('\n\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    `<p>${esc(paragraphs[0]!)}</p>`,
    `<p><a href="${esc(action.url)}">${esc(action.label)}</a></p>`,
    ...paragraphs.slice(1).map((p) => `<p>${esc(p)}</p>`),
    '</body></html>',
  ].join('\n');
  return { to, subject, text, html };
}

export const emails = {
  verify: (to: string, username: string, url: string, hours: number) =>
    compose(to, 'Confirm your email address for Pixbin', [`Hello ${username}, please confirm that this is your email address.`, `The link works once and expires in ${hours} hours. If you did not sign up, ignore this message.`], { label: 'Confirm my address', url }),

  alreadyRegistered: (to: string, loginUrl: string, resetUrl: string) =>
    compose(to, 'Someone tried to sign up to Pixbin with your address', ['Someone, perhaps you, tried to create a Pixbin account with this email address, but it already has one.', `If it was you, log in instead, or reset your password: ${resetUrl}. If not, you can ignore this message.`], { label: 'Log in', url: loginUrl }),

  deletionRequested: (to: string, username: string, url: string, purgeOn: string) =>
    compose(to, 'Your Pixbin account will be deleted', [`Hello ${username}, your Pixbin account and every image in it will be erased for good on ${purgeOn}. Your images are no longer shown to anyone.`, 'If you change your mind before then, follow the link, or simply log in: either restores the account with its images. If you did not ask for this, restore it and change your password.'], { label: 'Keep my account', url }),

  /** An endpoint the dispatcher switched off: its receiver answered 410 Gone, or a delivery exhausted its retries. */
  webhookDisabled: (to: string, username: string, endpointHost: string, reason: 'gone' | 'failing', attempts: number, url: string) =>
    compose(
      to,
      'Pixbin stopped sending webhooks to one of your endpoints',
      [
        reason === 'gone'
          ? `Hello ${username}, the webhook endpoint at ${endpointHost} answered 410 Gone, which means it no longer wants deliveries, so Pixbin switched it off.`
          : `Hello ${username}, a delivery to the webhook endpoint at ${endpointHost} failed ${attempts} times in a row over about three days, so Pixbin switched the endpoint off.`,
        'Deliveries that were still waiting are marked failed; the delivery log shows each attempt and what the receiver answered. Once the receiver works again, switch the endpoint back on and resend the deliveries you need.',
      ],
      { label: 'See the endpoint', url },
    ),

  reset: (to: string, username: string, url: string, minutes: number) =>
    compose(to, 'Reset your Pixbin password', [`Hello ${username}, someone asked to reset the password of your Pixbin account.`, `The link works once and expires in ${minutes} minutes. Resetting signs out every device. If you did not ask, ignore this message; your password stays as it is.`], { label: 'Choose a new password', url }),
};
