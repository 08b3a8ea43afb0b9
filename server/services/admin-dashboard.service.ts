import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startupWarnings, type Config } from '../config/config.js';
import type { ApiDailyCount } from '../db/api-requests.repo.js';
import type { Repos } from '../db/repos.js';
import { DAY_MS } from '../lib/time.js';

/** The version in package.json, found from here whether running from source or from dist/. */
function packageVersion(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  }
  return 'unknown';
}
export const VERSION = packageVersion();

/** API calls over a window: per UTC day (newest first, days without calls left out) and summed. */
export type ApiTraffic = { days: number; perDay: ApiDailyCount[]; totals: Omit<ApiDailyCount, 'day'> };

export function apiTrafficOf(perDay: ApiDailyCount[], days: number): ApiTraffic {
  const totals = { requests: 0, uploads: 0, bytes: 0, errors: 0 };
  for (const d of perDay) {
    totals.requests += d.requests;
    totals.uploads += d.uploads;
    totals.bytes += d.bytes;
    totals.errors += d.errors;
  }
  return { days, perDay, totals };
}

/** The start of the API log window: what the request log still holds (API_LOG_RETENTION_DAYS). */
export const apiWindowStart = (now: Date, days: number): Date => new Date(now.getTime() - days * DAY_MS);

export type JobStatus = { job: string; startedAt: Date | null; finishedAt: Date | null; items: number; error: string | null };

/** What the dashboard shows: activity, API traffic, queues, the last run of every job, configuration warnings, outbound allowances, version. */
export async function dashboard(repos: Repos, config: Config, jobNames: readonly string[], now: Date) {
  const days = 14;
  const from = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
  const counted = await repos.dailyStats.countsSince('image.upload', from);
  const today = now.toISOString().slice(0, 10);
  // Today is not counted into daily_stats yet: the security log has it.
  const todayCount = (await repos.securityLog.countByEvent(new Date(`${today}T00:00:00Z`), new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000))).find((c) => c.event === 'image.upload')?.count ?? 0;
  const uploadsPerDay = [...counted, { day: today, count: todayCount }];
  const storage = await repos.images.storageTotals();
  const privacy = await repos.privacyRequests.countPending(now);
  const openReports = await repos.reports.countOpen();
  const counterNotices = await repos.counterNotices.countPending();
  const lastRuns = await repos.jobRuns.lastRuns(jobNames);
  const jobs: JobStatus[] = jobNames.map((job) => {
    const last = lastRuns.get(job);
    return { job, startedAt: last?.startedAt ?? null, finishedAt: last?.finishedAt ?? null, items: last?.items ?? 0, error: last?.error ?? null };
  });
  const apiDays = config.apiLogRetentionDays;
  const api = { ...apiTrafficOf(await repos.apiRequests.dailyForAll(apiWindowStart(now, apiDays)), apiDays), activeKeys: await repos.apiKeys.countActive(now) };
  const warnings = [...startupWarnings(config)];
  if (!config.smtpUrl) warnings.push('SMTP_URL is not set: account emails (confirmation, password reset, deletion notices) only go to the server log.');
  if (!config.https) warnings.push(`PUBLIC_URL (${config.publicUrl}) is not https: cookies cannot be marked Secure and logins travel unencrypted.`);
  return {
    uploadsPerDay,
    storage,
    queues: { openReports, counterNotices, privacyRequestsPending: privacy.pending, privacyRequestsOverdue: privacy.overdue },
    api,
    jobs,
    warnings,
    // OUTBOUND_ALLOW: the private destinations that webhooks and upload by URL may reach (nothing private otherwise).
    outboundAllow: config.outboundAllow,
    version: VERSION,
  };
}
