import { DAY_MS, type Job } from './job.js';

/**
 * Deletes sessions past their idle or absolute expiry, email tokens that expired (or were used a day ago), and
 * rate-limit counters (keyed by IP address or account) whose window has ended, and upload bans that have ended.
 */
export const expireSessionsAndTokens: Job = {
  name: 'expire-sessions-and-tokens',
  schedule: '47 * * * *',
  async run({ repos }, now) {
    const sessions = await repos.sessions.deleteExpired(now);
    const tokens = await repos.emailTokens.deleteExpired(now, new Date(now.getTime() - DAY_MS));
    const rateLimits = await repos.rateLimits.deleteExpired(now);
    const ipBans = await repos.ipBans.deleteExpired(now);
    return { items: sessions + tokens + rateLimits + ipBans, detail: { sessions, tokens, rateLimits, ipBans } };
  },
};
