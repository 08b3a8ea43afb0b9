import { DAY_MS, type Job } from './job.js';

/**
 * Deletes sessions past their idle or absolute expiry, email tokens that expired (or were used a day ago), and
 * rate-limit counters (keyed by IP address or account) whose window has ended, and upload bans that have ended.
 */
export const expireSessionsAndTokens: Job = {
  name: 'expire-sessions-and-tokens',
  schedule: '47 * * * *',
  async run({ db }, now) {
    const sessions = await db('sessions').where('expires_at', '<', now).orWhere('absolute_expires_at', '<', now).delete();
    const tokens = await db('email_tokens')
      .where('expires_at', '<', now)
      .orWhere('used_at', '<', new Date(now.getTime() - DAY_MS))
      .delete();
    const rateLimits = await db('rate_limits').where('expire', '<', now.getTime()).delete();
    const ipBans = await db('ip_bans').where('expires_at', '<=', now).delete();
    return { items: sessions + tokens + rateLimits + ipBans, detail: { sessions, tokens, rateLimits, ipBans } };
  },
};
