import type { Repos } from '../db/repos.js';
import type { DecisionRow, Period, ResolvedReportRow } from '../db/transparency.repo.js';
import { PRIVACY_REQUEST_KINDS } from '../db/privacy-requests.repo.js';
import { BadRequest, NotFound } from '../errors.js';
import { csvField } from './audit.service.js';
import { REPORT_REASONS } from './reports.service.js';
import { suppressCounts, suppressed, type SumGroup } from './transparency-suppression.js';

export { suppressCounts, suppressed, type CellState, type SumGroup } from './transparency-suppression.js';

const messages = {
  badPeriod: 'The period must look like 2026-H1 (January to June) or 2026-H2 (July to December), with a year from 1000 to 9999.',
  future: 'That period has not started yet.',
  beforeRecords: 'This installation has no records that old: its report starts with the half-year of its first record.',
};

/**
 * The public transparency report: what moderation recorded over a calendar half-year (UTC), as counts only. A count
 * from 1 to TRANSPARENCY_MIN_COUNT − 1 is shown as "fewer than N" (0 says nothing about anyone and is shown), a
 * count that would let one of those be worked out from a total as "not shown" (complementary suppression), and
 * times to decision only when at least N reports were decided. Every row names the repository query it comes from
 * (server/db/transparency.repo.ts), which the page shows as data-query and the README lists.
 */
export type TransparencyRow = {
  key: string;
  label: string;
  /** The query in transparency.repo.ts (and what is done with it), e.g. reports.byReason. */
  query: string;
  /** The exact number, or null when it is below the threshold (or a time or share with too few cases). */
  value: number | null;
  /** What the page shows: the number, "fewer than N", "not shown", a duration or a percentage. */
  display: string;
};
export type TransparencySection = { key: string; title: string; howCounted: string; rows: TransparencyRow[] };
/** [from, to): a calendar half-year in UTC; current when it holds now (its figures are so far). */
export type PeriodInfo = { key: string; label: string; from: Date; to: Date; current: boolean };
export type TransparencyReport = { period: PeriodInfo; asOf: Date; minCount: number; sections: TransparencySection[] };

const MAX_PERIODS = 20;
const HALF_LABELS = { 1: 'January to June', 2: 'July to December' } as const;

/** The half-year holding `at`. */
export function periodOf(at: Date, now: Date): PeriodInfo {
  const year = at.getUTCFullYear();
  const half = at.getUTCMonth() < 6 ? 1 : 2;
  return periodInfo(year, half, now);
}

function periodInfo(year: number, half: 1 | 2, now: Date): PeriodInfo {
  const from = new Date(Date.UTC(year, half === 1 ? 0 : 6, 1));
  const end = new Date(Date.UTC(half === 1 ? year : year + 1, half === 1 ? 6 : 0, 1));
  const current = from <= now && now < end;
  // The current period is queried to its end too: nothing is recorded after now, and a record made at this very
  // millisecond still counts.
  return { key: `${year}-H${half}`, label: `${HALF_LABELS[half]} ${year}${current ? ' (so far)' : ''}`, from, to: end, current };
}

/** The period a ?period= value names, checked for form only: 400 unless a year from 1000 to 9999 (so Date.UTC never reads a two-digit year as 19xx), 404 when not started. */
function periodNamed(value: unknown, now: Date): PeriodInfo {
  if (value === undefined || value === '') return periodOf(now, now);
  const match = typeof value === 'string' ? /^(\d{4})-H([12])$/.exec(value) : null;
  if (!match || Number(match[1]) < 1000) throw new BadRequest(messages.badPeriod, 'bad_period');
  const period = periodInfo(Number(match[1]), Number(match[2]) as 1 | 2, now);
  if (period.from > now) throw new NotFound(messages.future);
  return period;
}

/**
 * The period a ?period= value names: the current one when absent; 400 when malformed, 404 when not started or
 * before the half-year of `firstRecord` (the first report, decision or privacy request; none: only the current one).
 */
export function parsePeriod(value: unknown, now: Date, firstRecord: Date | null): PeriodInfo {
  const period = periodNamed(value, now);
  if (period.to <= periodOf(firstRecord ?? now, now).from) throw new NotFound(messages.beforeRecords);
  return period;
}

/** parsePeriod against this installation's first record, looked up only for a well-formed past period. */
export async function resolvePeriod(repos: Pick<Repos, 'transparency'>, value: unknown, now: Date): Promise<PeriodInfo> {
  const period = periodNamed(value, now);
  return period.current ? period : parsePeriod(value, now, await repos.transparency.firstRecordAt());
}

/** The periods the picker offers: from the one of the first record to the current one, newest first. */
export async function transparencyPeriods(repos: Pick<Repos, 'transparency'>, now: Date): Promise<PeriodInfo[]> {
  const first = (await repos.transparency.firstRecordAt()) ?? now;
  const periods: PeriodInfo[] = [];
  for (let p = periodOf(now, now); periods.length < MAX_PERIODS; ) {
    periods.push(p);
    if (p.from <= first) break;
    p = periodOf(new Date(p.from.getTime() - 1), now);
  }
  return periods;
}

/** Nearest-rank percentile of sorted values (p in (0, 1]). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/** A duration as people read it: minutes, hours or days. */
export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = ms / 3_600_000;
  if (hours < 48) return `${Math.round(hours * 10) / 10} hours`;
  return `${Math.round((hours / 24) * 10) / 10} days`;
}

/** Staff actions (audit log) counted as decisions, by the kind the report shows. */
const DECISION_KINDS: Record<string, { kind: string; label: string }> = {
  'image.hide': { kind: 'hide', label: 'Hidden' },
  'album.hide': { kind: 'hide', label: 'Hidden' },
  'image.sensitive': { kind: 'sensitive', label: 'Marked sensitive' },
  'image.remove': { kind: 'remove', label: 'Removed' },
  'image.restore': { kind: 'restore', label: 'Restored or restriction lifted' },
  'image.clear': { kind: 'restore', label: 'Restored or restriction lifted' },
  'album.clear': { kind: 'restore', label: 'Restored or restriction lifted' },
  'image.dismiss': { kind: 'dismiss', label: 'Reports dismissed (no action)' },
  'album.dismiss': { kind: 'dismiss', label: 'Reports dismissed (no action)' },
};
const KIND_ORDER = ['hide', 'sensitive', 'remove', 'restore', 'dismiss'];
const RESTRICTING = new Set(['hide', 'sensitive', 'remove']);
const OTHER_ACTIONS = ['user.suspend', 'ip_ban.add'];
const REASON_KEYS = Object.keys(REPORT_REASONS) as Array<keyof typeof REPORT_REASONS>;

/**
 * The ground of a restricting decision: the reason of the reports it resolved (the same target, resolution and
 * moment), the most serious when several (REPORT_REASONS order), or "own initiative" when it resolved none.
 */
function groundsOf(decisions: DecisionRow[], resolved: ResolvedReportRow[]): Map<string, number> {
  const reasons = new Map<string, string[]>();
  for (const r of resolved) {
    const key = `${r.targetKind}.${r.resolution}:${r.targetId}:${r.resolvedAt.getTime()}`;
    reasons.set(key, [...(reasons.get(key) ?? []), r.reason]);
  }
  const grounds = new Map<string, number>();
  for (const d of decisions) {
    if (!RESTRICTING.has(DECISION_KINDS[d.action]?.kind ?? '')) continue;
    const found = reasons.get(`${d.action}:${d.targetId}:${d.createdAt.getTime()}`) ?? [];
    const ground = REASON_KEYS.find((k) => found.includes(k)) ?? 'own_initiative';
    grounds.set(ground, (grounds.get(ground) ?? 0) + 1);
  }
  return grounds;
}

/** Builds the report for one period from live data. */
export async function transparencyReport(repos: Pick<Repos, 'transparency'>, period: PeriodInfo, minCount: number, now: Date): Promise<TransparencyReport> {
  const t = repos.transparency;
  const p: Period = { from: period.from, to: period.to };
  // Counts get their final display once every section exists (complementary suppression spans sections).
  const counted = new Map<TransparencyRow, number>();
  const row = (key: string, label: string, query: string, n: number): TransparencyRow => {
    const r = { key, label, query, value: n, display: String(n) };
    counted.set(r, n);
    return r;
  };

  const byReason = await t.reportsByReason(p);
  const totalReports = [...byReason.values()].reduce((a, b) => a + b, 0);
  const sources = await t.reportSources(p);

  const actions = await t.staffActions([...Object.keys(DECISION_KINDS), ...OTHER_ACTIONS], p);
  const decisions = actions.filter((a) => DECISION_KINDS[a.action]);
  const resolved = await t.resolvedReports(p);
  const kindCounts = new Map<string, number>();
  for (const d of decisions) kindCounts.set(DECISION_KINDS[d.action]!.kind, (kindCounts.get(DECISION_KINDS[d.action]!.kind) ?? 0) + 1);
  const grounds = groundsOf(decisions, resolved);

  const durations = resolved.map((r) => r.resolvedAt.getTime() - r.createdAt.getTime()).sort((a, b) => a - b);
  const timed = durations.length >= minCount && durations.length > 0;
  const timeRow = (key: string, label: string, pct: number): TransparencyRow => {
    const ms = timed ? percentile(durations, pct) : null;
    return { key, label, query: 'transparency.resolvedReports (resolved_at − created_at)', value: ms, display: ms === null ? `not shown (fewer than ${minCount} decided reports)` : formatDuration(ms) };
  };

  const restores = decisions.filter((d) => d.action === 'image.restore' || d.action === 'image.clear');
  const reinstated = await t.imagesWithReversedCopyright(restores.map((d) => d.targetId).filter((id): id is string => id !== null));
  const counters = await t.counterNotices(p);
  const suspensions = actions.filter((a) => a.action === 'user.suspend');

  const privacy = await t.privacyRequests(p);
  const answered = (r: (typeof privacy)[number]) => r.status === 'done' || r.status === 'refused';
  const judged = privacy.filter((r) => answered(r) || r.dueAt <= now);
  const onTime = judged.filter((r) => answered(r) && r.updatedAt <= r.dueAt).length;
  const share = judged.length >= minCount && judged.length > 0 ? Math.round((onTime / judged.length) * 100) : null;

  const sections: TransparencySection[] = [
    {
      key: 'reports',
      title: 'Reports received, by category',
      howCounted: 'Every report sent through the report form of an image or album in the period, by the reason the sender chose. Copyright notices are reports with the reason “Copyright infringement”.',
      rows: [...REASON_KEYS.map((k) => row(`reason.${k}`, REPORT_REASONS[k], 'transparency.reportsByReason', byReason.get(k) ?? 0)), row('total', 'All reports', 'transparency.reportsByReason (sum)', totalReports)],
    },
    {
      key: 'sources',
      title: 'Reports received, by source',
      howCounted:
        'Whether the sender was signed in, as recorded on each report when it arrived. Reports made before Pixbin recorded this count as “not known”. Pixbin has no trusted-flagger channel: every notice, trusted or not, comes through the same form, so “trusted notice” is always 0.',
      rows: [
        row('visitor', 'Visitors (not signed in)', 'transparency.reportSources (visitor)', sources.visitor),
        row('account', 'Signed-in accounts', 'transparency.reportSources (account)', sources.account),
        row('trusted', 'Trusted notices', 'none: no trusted-flagger channel exists', 0),
        row('unknown', 'Not known (sent before the source was recorded)', 'transparency.reportSources (none recorded)', sources.unknown),
      ],
    },
    {
      key: 'decisions',
      title: 'Decisions, by kind',
      howCounted: 'Staff decisions recorded in the audit log in the period, on images and albums, whether or not a report asked for them.',
      rows: KIND_ORDER.map((k) => {
        const label = Object.values(DECISION_KINDS).find((d) => d.kind === k)!.label;
        return row(`kind.${k}`, label, 'transparency.staffActions (image.*, album.*)', kindCounts.get(k) ?? 0);
      }),
    },
    {
      key: 'grounds',
      title: 'Restricting decisions, by ground',
      howCounted: 'Each decision to hide, mark sensitive or remove, under the reason of the reports it settled (the most serious when several), or “own initiative” when it settled none. Restores and dismissals restrict nothing and are not counted here.',
      rows: [...REASON_KEYS.map((k) => row(`ground.${k}`, REPORT_REASONS[k], 'transparency.staffActions + transparency.resolvedReports', grounds.get(k) ?? 0)), row('ground.own_initiative', 'Own initiative (no report)', 'transparency.staffActions + transparency.resolvedReports', grounds.get('own_initiative') ?? 0)],
    },
    {
      key: 'time',
      title: 'Time from report to decision',
      howCounted: `From when a report was received to when it was decided, over the reports decided in the period (nearest-rank percentiles). Shown only when at least ${minCount} reports were decided.`,
      rows: [row('decided', 'Reports decided', 'transparency.resolvedReports', durations.length), timeRow('median', 'Median', 0.5), timeRow('p90', '90th percentile', 0.9)],
    },
    {
      key: 'copyright',
      title: 'Copyright',
      howCounted: 'Notices are reports with the copyright reason. Counter-notices are those filed by uploaders or recorded by staff; accepted ones reverse the notice. A reinstatement is an image put back (restored, or its restriction lifted) whose copyright notice was reversed.',
      rows: [
        row('notices', 'Copyright notices received', 'transparency.reportsByReason (copyright)', byReason.get('copyright') ?? 0),
        row('counter_notices', 'Counter-notices received', 'transparency.counterNotices (received)', counters.received),
        row('counter_accepted', 'Counter-notices accepted', 'transparency.counterNotices (accepted)', counters.accepted),
        row('reinstatements', 'Reinstatements', 'transparency.staffActions (image.restore, image.clear) + transparency.imagesWithReversedCopyright', restores.filter((d) => d.targetId && reinstated.has(d.targetId)).length),
      ],
    },
    {
      key: 'accounts',
      title: 'Accounts and uploads',
      howCounted:
        'Suspensions and upload bans from the audit log. Refused uploads are counted per day by the daily statistics job (which keeps the counts after the security log is erased), and from the security log for days it has not counted yet; one count covers both causes, an address ban or a match on the hash blocklist.',
      rows: [
        row('suspensions', 'Accounts suspended', 'transparency.staffActions (user.suspend)', suspensions.length),
        row('repeat_infringer', 'of which under the repeat-infringer policy', 'transparency.staffActions (user.suspend, policy repeat_infringer)', suspensions.filter((s) => s.detail.policy === 'repeat_infringer').length),
        row('upload_bans', 'Upload bans', 'transparency.staffActions (ip_ban.add)', actions.filter((a) => a.action === 'ip_ban.add').length),
        row('refused', 'Uploads refused (hash blocklist or upload ban)', 'transparency.eventCount (upload.refused)', await t.eventCount('upload.refused', p)),
      ],
    },
    {
      key: 'privacy',
      title: 'Privacy requests',
      howCounted: `Requests about personal data received in the period, by kind. On time: answered (done or refused) by the 30-day due date, out of those answered or already past it; shown only when there are at least ${minCount}.`,
      rows: [
        ...PRIVACY_REQUEST_KINDS.map((k) => row(`kind.${k}`, k[0]!.toUpperCase() + k.slice(1), 'transparency.privacyRequests', privacy.filter((r) => r.kind === k).length)),
        row('total', 'All requests', 'transparency.privacyRequests (count)', privacy.length),
        { key: 'on_time', label: 'Answered within the due date', query: 'transparency.privacyRequests (updated_at ≤ due_at)', value: share, display: share === null ? `not shown (fewer than ${minCount} due or answered)` : `${share}%` },
      ],
    },
  ];
  applySuppression(sections, counted, minCount);
  return { period, asOf: now, minCount, sections };
}

/** The sets of figures with a known sum, as section.figure keys. */
export const TRANSPARENCY_GROUPS: readonly SumGroup[] = [
  { parts: REASON_KEYS.map((k) => `reports.reason.${k}`), totals: ['reports.total'] },
  { parts: ['sources.visitor', 'sources.account', 'sources.trusted', 'sources.unknown'], totals: ['reports.total'] },
  { parts: [...REASON_KEYS, 'own_initiative'].map((k) => `grounds.ground.${k}`), totals: ['decisions.kind.hide', 'decisions.kind.sensitive', 'decisions.kind.remove'] },
  { parts: PRIVACY_REQUEST_KINDS.map((k) => `privacy.kind.${k}`), totals: ['privacy.total'] },
  // The same number twice: hiding one and showing the other would say it.
  { parts: ['reports.reason.copyright'], totals: ['copyright.notices'] },
];

function applySuppression(sections: TransparencySection[], counted: Map<TransparencyRow, number>, minCount: number): void {
  const counts: Record<string, number> = {};
  for (const s of sections) for (const r of s.rows) if (counted.has(r)) counts[`${s.key}.${r.key}`] = counted.get(r)!;
  const state = suppressCounts(counts, TRANSPARENCY_GROUPS, minCount);
  for (const s of sections) {
    for (const r of s.rows) {
      const st = state[`${s.key}.${r.key}`];
      if (st === 'fewer') Object.assign(r, suppressed(counted.get(r)!, minCount));
      else if (st === 'withheld') Object.assign(r, { value: null, display: 'not shown' });
    }
  }
}

export const TRANSPARENCY_CSV_HEADER = ['period', 'section', 'figure', 'label', 'value', 'shown_as', 'query'];

/** The report as CSV (formula-safe fields, like the audit CSV), the same suppressed figures as the page. */
export function transparencyCsv(report: TransparencyReport): string {
  const lines = [TRANSPARENCY_CSV_HEADER.join(',')];
  for (const s of report.sections) for (const r of s.rows) lines.push([report.period.key, s.key, r.key, r.label, r.value, r.display, r.query].map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}
