/**
 * The one list of what Pixbin records in the security log, which is the only place an IP address and user agent
 * are kept (rotated after IP_LOG_RETENTION_DAYS). Anything not listed here cannot be written: the repository only
 * accepts these names. Image and thumbnail fetches are never logged with an address; page views only when the
 * operator turns PAGE_VIEW_LOGGING on, and never for a request that sends Sec-GPC: 1.
 */
export const SECURITY_EVENTS = {
  // Sign-up and login
  'auth.signup': 'an account was created',
  'auth.login': 'a login succeeded',
  'auth.login_failed': 'a login failed',
  'auth.reset_requested': 'a password reset was asked for',
  'auth.password_reset': 'a password was reset with an emailed link',
  // Account changes made by its holder
  'account.reauth_failed': 'a wrong current password was given for a sensitive change',
  'account.username_changed': 'the username was changed',
  'account.email_change_requested': 'a change of email address was started',
  'account.email_change_ignored': 'a change to an address already in use was asked for (nothing changed)',
  'account.verification_resent': 'a new confirmation link was asked for',
  'account.password_changed': 'the password was changed',
  'account.marketing_consent_changed': 'the news-by-email choice was changed',
  'account.session_revoked': 'one signed-in device was signed out',
  'account.sessions_revoked': 'every other device was signed out',
  'account.export': 'the account’s data was downloaded',
  'account.deletion_requested': 'the holder asked to delete the account',
  'account.deletion_cancelled': 'the deletion was cancelled and the account restored',
  'account.purged': 'an account was erased (recorded without naming it)',
  // Images
  'image.upload': 'an image was uploaded',
  'image.delete': 'an image was deleted (by its owner, its delete link, or expiry)',
  'image.claim': 'a guest upload was claimed into an account',
  'image.restore': 'a deleted image was restored from the recovery store',
  'upload.refused': 'an upload was refused by an address ban or the hash blocklist',
  // Staff and reports (the admin panel adds its actions here)
  'admin.setup': 'the first admin account was created',
  'admin.action': 'a staff member acted (moderation, settings)',
  'abuse.report': 'an image or album was reported',
  'api_key.use': 'an API key was used',
  'api_key.create': 'an API key was created (its id and scopes, never the key)',
  'api_key.revoke': 'an API key was revoked by its holder',
  'webhook.create': 'a webhook endpoint was created (its id, host and events, never the secret)',
  'webhook.update': 'a webhook endpoint was changed, switched off or switched on',
  'webhook.delete': 'a webhook endpoint was deleted with its delivery log',
  'webhook.rotate_secret': 'a webhook endpoint was given a new signing secret',
  // Optional, off by default
  'page.view': 'a page was viewed (only with PAGE_VIEW_LOGGING=true and without Sec-GPC: 1)',
} as const;

export type SecurityEventName = keyof typeof SECURITY_EVENTS;
