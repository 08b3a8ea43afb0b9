import { DAY_MS, daysBefore, deleteInBatches, type Job } from './job.js';
import { ALTCHA_TTL_SECONDS } from '../services/altcha.service.js';

/**
 * How long the run log (job_runs) keeps a run. storage-cleanup alone records 1,440 runs a day; the newest run of each
 * job is always kept, whatever its age (the catch-up after a restart and the staff dashboard read it).
 */
export const JOB_RUN_RETENTION_DAYS = 30;

/**
 * Deletes sessions past their idle or absolute expiry, email tokens that expired (or were used a day ago), and
 * rate-limit counters (keyed by IP address or account) whose window has ended, upload bans that have ended, and
 * spent ALTCHA challenges past their expiry; and
 * job runs older than JOB_RUN_RETENTION_DAYS. Hourly, so each delete is small.
 */
export const expireSessionsAndTokens: Job = {
  name: 'expire-sessions-and-tokens',
  schedule: '47 * * * *',
  async run({ repos }, now) {
    const sessions = await repos.sessions.deleteExpired(now);
    const tokens = await repos.emailTokens.deleteExpired(now, new Date(now.getTime() - DAY_MS));
    const rateLimits = await repos.rateLimits.deleteExpired(now);
    const ipBans = await repos.ipBans.deleteExpired(now);
    // A spent challenge is kept one more lifetime past its expiry: a replica whose clock runs behind still sees it spent.
    const altchaSpent = await repos.altchaSpent.deleteExpired(new Date(now.getTime() - ALTCHA_TTL_SECONDS * 1000));
    const cutoff = daysBefore(now, JOB_RUN_RETENTION_DAYS);
    const jobRuns = await deleteInBatches((limit) => repos.jobRuns.deleteOlderThan(cutoff, limit));
    return { items: sessions + tokens + rateLimits + ipBans + altchaSpent + jobRuns, detail: { sessions, tokens, rateLimits, ipBans, altchaSpent, jobRuns } };
  },
};
