import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { ImageRecord } from '../db/images.repo.js';
import type { Repos } from '../db/repos.js';
import { randomBase62 } from '../lib/ids.js';
import { imageKeys } from '../storage/keys.js';
import type { StorageDriver } from '../storage/storage.js';
import { displayVariantOf } from './image-processing.service.js';

/**
 * The display-variant backfill, for images uploaded before display variants (npm run variants:backfill, and the
 * backfill-display-variants job). Resumable by construction: it walks the rows that still have no variant in id
 * order, and a row gets its columns only after its bytes are stored, so an interrupted run leaves nothing half
 * done and the next run starts where it stopped. One image at a time, read from storage, so memory stays flat.
 */
export type BackfillDeps = {
  repos: Repos;
  storage: StorageDriver;
  logger?: Logger;
  /** A scratch folder on local disk (DATA_DIR/tmp). */
  workDir: string;
  displayMaxPx: number;
};
export type BackfillProgress = { made: number; failed: number; bytes: number; lastId: string };
export type BackfillReport = BackfillProgress & {
  /** Ids whose variant could not be made (the original is missing or unreadable), at most the first 50. */
  failedIds: string[];
  /** Whether images without a variant remain past where the run stopped (its limit was reached). */
  more: boolean;
};

const PAGE = 100;
const REPORTED_IDS = 50;
// A stored original already passed MAX_IMAGE_PIXELS at upload; this only guards against a corrupt header.
const STORED_MAX_PIXELS = 1_000_000_000;

/** Makes, stores and records one image's display variant; false when the row went away meanwhile. */
async function backfillOne(deps: BackfillDeps, image: ImageRecord): Promise<{ recorded: boolean; size: number }> {
  const keys = imageKeys(image);
  const original = path.join(deps.workDir, `${randomBase62(16)}.backfill`);
  let variantPath: string | null = null;
  try {
    await pipeline(await deps.storage.get(keys.original), createWriteStream(original));
    const variant = await displayVariantOf(original, { maxPixels: STORED_MAX_PIXELS, displayMaxPx: deps.displayMaxPx, workDir: deps.workDir });
    variantPath = variant.path;
    await deps.storage.put(keys.display, createReadStream(variant.path), { contentType: 'image/webp' });
    const recorded = await deps.repos.transaction(async (tx) => {
      const row = await tx.images.setDisplayVariant(image.id, variant);
      // The owner's quota pays for the new bytes, like an upload's: deleting the image gives them back.
      if (row?.ownerId) await tx.users.addBytes(row.ownerId, variant.size);
      return row !== null;
    });
    // Deleted meanwhile: its variant must not stay behind. Recorded by another run (same bytes): it stays.
    if (!recorded && !(await deps.repos.images.findById(image.id))) await deps.storage.delete(keys.display);
    return { recorded, size: variant.size };
  } finally {
    await Promise.all([fs.rm(original, { force: true }), variantPath ? fs.rm(variantPath, { force: true }) : undefined]);
  }
}

/**
 * Makes display variants for up to `limit` images that have none (all of them without a limit), in id order.
 * An image whose original is missing or unreadable is logged, counted and skipped; the run goes on.
 */
export async function backfillDisplayVariants(
  deps: BackfillDeps,
  options: { limit?: number; onProgress?: (progress: BackfillProgress) => void } = {},
): Promise<BackfillReport> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const report: BackfillReport = { made: 0, failed: 0, bytes: 0, lastId: '', failedIds: [], more: false };
  for (;;) {
    const page = await deps.repos.images.listLackingDisplay(report.lastId, PAGE);
    for (const image of page) {
      if (report.made >= limit) {
        report.more = true;
        return report;
      }
      try {
        const { recorded, size } = await backfillOne(deps, image);
        if (recorded) {
          report.made++;
          report.bytes += size;
        }
      } catch (err) {
        report.failed++;
        if (report.failedIds.length < REPORTED_IDS) report.failedIds.push(image.id);
        deps.logger?.warn({ err, imageId: image.id }, 'could not make the display variant of a stored image; skipped');
      }
      report.lastId = image.id;
    }
    if (page.length) options.onProgress?.({ made: report.made, failed: report.failed, bytes: report.bytes, lastId: report.lastId });
    if (page.length < PAGE) return report;
  }
}
