import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { startupWarnings, type Config } from '../config/config.js';
import { toDate, toDateOrNull } from '../db/knex.js';

/** The version in package.json, found from here whether running from source or from dist/. */
function packageVersion(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  }
  return 'unknown';
}
export const VERSION = packageVersion();

export type JobStatus = { job: string; startedAt: Date | null; finishedAt: Date | null; items: number; error: string | null };

/** What the dashboard shows: activity, queues, the last run of every job, configuration warnings, version. */
export async function dashboard(db: Knex, config: Config, jobNames: readonly string[], now: Date) {
  const days = 14;
  const from = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
  const counted = (await db('daily_stats').where({ metric: 'image.upload' }).andWhere('day', '>=', from).orderBy('day')) as Array<{ day: string; count: number | string }>;
  const today = now.toISOString().slice(0, 10);
  const todayCount = Number(
    ((await db('security_log').where({ event: 'image.upload' }).andWhere('created_at', '>=', new Date(`${today}T00:00:00Z`)).count({ n: '*' }).first()) as { n: number | string } | undefined)?.n ?? 0,
  );
  const uploadsPerDay = [...counted.map((r) => ({ day: r.day, count: Number(r.count) })), { day: today, count: todayCount }];
  const storage = (await db('images').sum({ bytes: 'size' }).sum({ thumbs: 'thumb_size' }).count({ n: '*' }).first()) as { bytes: unknown; thumbs: unknown; n: unknown };
  const overdue = Number(((await db('privacy_requests').whereIn('status', ['open', 'in_progress']).andWhere('due_at', '<', now).count({ n: '*' }).first()) as { n: unknown }).n ?? 0);
  const pending = Number(((await db('privacy_requests').whereIn('status', ['open', 'in_progress']).count({ n: '*' }).first()) as { n: unknown }).n ?? 0);
  const openReports = Number(((await db('reports').where({ status: 'open' }).count({ n: '*' }).first()) as { n: unknown }).n ?? 0);
  const counterNotices = Number(((await db('counter_notices').where({ status: 'received' }).count({ n: '*' }).first()) as { n: unknown }).n ?? 0);
  const jobs: JobStatus[] = [];
  for (const job of jobNames) {
    const last = (await db('job_runs').where({ job }).orderBy('started_at', 'desc').first()) as Record<string, unknown> | undefined;
    jobs.push({
      job,
      startedAt: last ? toDate(last.started_at) : null,
      finishedAt: last ? toDateOrNull(last.finished_at) : null,
      items: last ? Number(last.items) : 0,
      error: last ? ((last.error as string | null) ?? null) : null,
    });
  }
  const warnings = [...startupWarnings(config)];
  if (!config.smtpUrl) warnings.push('SMTP_URL is not set: account emails (confirmation, password reset, deletion notices) only go to the server log.');
  if (!config.publicUrl.startsWith('https:')) warnings.push(`PUBLIC_URL (${config.publicUrl}) is not https: cookies cannot be marked Secure and logins travel unencrypted.`);
  return {
    uploadsPerDay,
    storage: { images: Number(storage.n ?? 0), bytes: Number(storage.bytes ?? 0) + Number(storage.thumbs ?? 0) },
    queues: { openReports, counterNotices, privacyRequestsPending: pending, privacyRequestsOverdue: overdue },
    jobs,
    warnings,
    version: VERSION,
  };
}
