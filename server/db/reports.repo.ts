import type { Knex } from 'knex';
import { inBatches, toDate, toDateOrNull } from './knex.js';

/**
 * Reports about an image or an album (exactly one of the two ids is set), and copyright notices, which are reports
 * with reason copyright. The reporter's address never comes here (the security log has it, rotated).
 */
export type ReportStatus = 'open' | 'actioned' | 'dismissed' | 'reversed';
/** What a report is about. */
export type ReportTargetKind = 'image' | 'album';

/** The fields a copyright (DMCA) notice needs, kept as JSON on the report. */
export type CopyrightNotice = { work: string; originalUrl: string; claimant: string; contact: string; goodFaith: boolean; accurate: boolean; signature: string };

export type ReportRecord = {
  id: string;
  imageId: string | null;
  albumId: string | null;
  reason: string;
  details: string | null;
  reporterEmail: string | null;
  copyright: CopyrightNotice | null;
  status: ReportStatus;
  createdAt: Date;
  resolvedAt: Date | null;
  resolution: string | null;
  /** The uploader when the report was decided (open reports have none yet). */
  ownerId: string | null;
};

/** Who sent a report: someone not signed in, or an account (the transparency report counts them). */
export type ReportSource = 'visitor' | 'account';

export type NewReport = { id: string; target: { kind: ReportTargetKind; id: string }; reason: string; details: string | null; reporterEmail: string | null; copyright: CopyrightNotice | null; source: ReportSource; createdAt: Date };

/** One page of the open queue: which targets, oldest (or newest) first report first. */
export type OpenGroupsQuery = { reason?: string; sort: 'oldest' | 'newest'; limit: number; offset: number };

/** Decisions that uphold a copyright notice: the image stops being served. Marking it sensitive does not. */
export const UPHOLDING_RESOLUTIONS = ['hide', 'remove'] as const;

const column = (kind: ReportTargetKind) => (kind === 'image' ? 'image_id' : 'album_id');

function fromRow(r: Record<string, unknown>): ReportRecord {
  return {
    id: String(r.id),
    imageId: (r.image_id as string | null) ?? null,
    albumId: (r.album_id as string | null) ?? null,
    reason: String(r.reason),
    details: (r.details as string | null) ?? null,
    reporterEmail: (r.reporter_email as string | null) ?? null,
    copyright: r.copyright ? (JSON.parse(String(r.copyright)) as CopyrightNotice) : null,
    status: r.status as ReportStatus,
    createdAt: toDate(r.created_at),
    resolvedAt: toDateOrNull(r.resolved_at),
    resolution: (r.resolution as string | null) ?? null,
    ownerId: (r.owner_id as string | null) ?? null,
  };
}

export function createReportsRepo(db: Knex) {
  /** Upheld copyright notices about images (what strikes and counter-notices are about). */
  const upheldCopyright = () =>
    db('reports').where({ reason: 'copyright', status: 'actioned' }).whereNotNull('image_id').whereIn('resolution', [...UPHOLDING_RESOLUTIONS]);

  return {
    async insert(report: NewReport): Promise<void> {
      await db('reports').insert({
        id: report.id,
        image_id: report.target.kind === 'image' ? report.target.id : null,
        album_id: report.target.kind === 'album' ? report.target.id : null,
        reason: report.reason,
        details: report.details,
        reporter_email: report.reporterEmail,
        copyright: report.copyright ? JSON.stringify(report.copyright) : null,
        status: 'open',
        source: report.source,
        created_at: report.createdAt,
      });
    },

    async findById(id: string): Promise<ReportRecord | null> {
      const row = (await db('reports').where({ id }).first()) as Record<string, unknown> | undefined;
      return row ? fromRow(row) : null;
    },

    /**
     * One page of the open queue: the targets with open reports (of one reason, when given), ordered by their first
     * open report, with the target id breaking ties. One grouped query over the (status, created_at) index.
     */
    async openTargetsPage(kind: ReportTargetKind, query: OpenGroupsQuery): Promise<Array<{ targetId: string; firstAt: Date }>> {
      const col = column(kind);
      const q = db('reports').where({ status: 'open' }).whereNotNull(col).groupBy(col).select({ target_id: col }).min({ first_at: 'created_at' });
      if (query.reason) q.andWhere({ reason: query.reason });
      const order = query.sort === 'newest' ? 'desc' : 'asc';
      const rows = (await q
        .orderBy([
          { column: 'first_at', order },
          { column: col, order },
        ])
        .limit(query.limit)
        .offset(query.offset)) as Array<{ target_id: string; first_at: unknown }>;
      return rows.map((r) => ({ targetId: String(r.target_id), firstAt: toDate(r.first_at) }));
    },

    /** The open reports (of one reason, when given) about these targets, oldest first, in one query per batch. */
    async listOpenFor(kind: ReportTargetKind, targetIds: readonly string[], reason?: string): Promise<ReportRecord[]> {
      const reports: ReportRecord[] = [];
      for (const batch of inBatches(targetIds)) {
        const q = db('reports').where({ status: 'open' }).whereIn(column(kind), batch);
        if (reason) q.andWhere({ reason });
        reports.push(...((await q.orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }])) as Array<Record<string, unknown>>).map(fromRow));
      }
      return reports.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    },

    /** Every report about one image, open or decided, newest first (the staff history page). */
    async listForImage(imageId: string): Promise<ReportRecord[]> {
      const rows = (await db('reports').where({ image_id: imageId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])) as Array<Record<string, unknown>>;
      return rows.map(fromRow);
    },

    async countOpen(): Promise<number> {
      const row = (await db('reports').where({ status: 'open' }).count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },

    /** Closes every open report about the target with the decision taken, naming the uploader (for strikes). */
    async resolveOpen(target: { kind: ReportTargetKind; id: string }, decision: { status: 'actioned' | 'dismissed'; resolution: string; ownerId: string | null; at: Date }): Promise<number> {
      return db('reports')
        .where({ [column(target.kind)]: target.id, status: 'open' })
        .update({ status: decision.status, resolved_at: decision.at, resolution: decision.resolution, owner_id: decision.ownerId });
    },

    /** The image is back (restored, unhidden, or a counter-notice accepted): its upheld notices stop counting. */
    async reverseUpheldCopyright(imageId: string): Promise<number> {
      return db('reports').where({ image_id: imageId, reason: 'copyright', status: 'actioned' }).update({ status: 'reversed' });
    },

    /** Strikes: distinct images of the owner taken down on a copyright notice resolved after `since`. */
    async countStrikes(ownerId: string, since: Date): Promise<number> {
      const row = (await upheldCopyright().andWhere({ owner_id: ownerId }).andWhere('resolved_at', '>', since).countDistinct({ n: 'image_id' }).first()) as
        | { n: number | string }
        | undefined;
      return Number(row?.n ?? 0);
    },

    /** The owner's images with an upheld copyright notice that no counter-notice answers yet. */
    async counterableImageIds(ownerId: string): Promise<string[]> {
      return (await upheldCopyright()
        .andWhere({ owner_id: ownerId })
        .whereNotExists(db('counter_notices').select('id').whereRaw('counter_notices.report_id = reports.id'))
        .distinct('image_id')
        .pluck('image_id')) as string[];
    },

    /**
     * The newest upheld copyright notice about the image: of its uploader's (ownerId set) or a named one (reportId
     * set, for staff recording a counter-notice that arrived by post).
     */
    async findUpheldCopyright(imageId: string, filter: { ownerId?: string; reportId?: string }): Promise<ReportRecord | null> {
      const q = upheldCopyright().andWhere({ image_id: imageId });
      if (filter.ownerId) q.andWhere({ owner_id: filter.ownerId });
      if (filter.reportId) q.andWhere({ id: filter.reportId });
      const row = (await q.orderBy('resolved_at', 'desc').first()) as Record<string, unknown> | undefined;
      return row ? fromRow(row) : null;
    },

    /** Copyright notices, newest first. */
    async listCopyright(limit: number): Promise<ReportRecord[]> {
      const rows = (await db('reports').where({ reason: 'copyright' }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit)) as Array<Record<string, unknown>>;
      return rows.map(fromRow);
    },

    /**
     * Reports about the owner's content, counted by status. Open reports do not name the uploader yet, so they are
     * found through the images and albums the account owns now; decided ones recorded the owner when decided.
     */
    async countAboutOwner(ownerId: string): Promise<{ open: number; total: number }> {
      const rows = (await db('reports')
        .where((q) =>
          q
            .where((open) =>
              open
                .where({ status: 'open' })
                .andWhere((about) => about.whereIn('image_id', db('images').select('id').where({ owner_id: ownerId })).orWhereIn('album_id', db('albums').select('id').where({ owner_id: ownerId }))),
            )
            .orWhere((resolved) => resolved.whereNot({ status: 'open' }).andWhere({ owner_id: ownerId })),
        )
        .select('status')
        .count({ n: '*' })
        .groupBy('status')) as Array<{ status: string; n: number | string }>;
      const total = rows.reduce((sum, r) => sum + Number(r.n), 0);
      return { open: Number(rows.find((r) => r.status === 'open')?.n ?? 0), total };
    },

    /** For an account purge: reports filed from the address keep their content, not who filed them. */
    async anonymiseReporter(email: string): Promise<void> {
      const rows = (await db('reports').whereRaw('lower(reporter_email) = ?', [email.toLowerCase()]).select('id', 'copyright')) as Array<{ id: string; copyright: string | null }>;
      for (const row of rows) {
        const notice = row.copyright ? { ...(JSON.parse(row.copyright) as CopyrightNotice), claimant: '[erased]', contact: '[erased]', signature: '[erased]' } : null;
        await db('reports').where({ id: row.id }).update({ reporter_email: null, copyright: notice ? JSON.stringify(notice) : null });
      }
    },

    /** For an account purge: decided reports stop naming the account as the uploader. */
    async forgetOwner(ownerId: string): Promise<void> {
      await db('reports').where({ owner_id: ownerId }).update({ owner_id: null });
    },
  };
}

export type ReportsRepo = ReturnType<typeof createReportsRepo>;
