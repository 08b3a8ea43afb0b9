import path from 'node:path';
import { backfillDisplayVariants } from '../services/display-variants.service.js';
import type { Job } from './job.js';

/** Images per run: at ~0.2 s each, a run takes well under a minute and never holds up the next one. */
export const BACKFILL_PER_RUN = 200;

/**
 * Gives images from before display variants theirs, a few at a time in the background, so an upgraded instance
 * fills them in without an operator running `npm run variants:backfill`. Does nothing once every image has one.
 */
export const backfillDisplayVariantsJob: Job = {
  name: 'backfill-display-variants',
  schedule: '*/10 * * * *',
  async run({ repos, storage, config, logger }) {
    const report = await backfillDisplayVariants(
      { repos, storage, logger, workDir: path.join(config.dataDir, 'tmp'), displayMaxPx: config.displayMaxPx },
      { limit: BACKFILL_PER_RUN },
    );
    return { items: report.made, detail: { made: report.made, failed: report.failed, bytes: report.bytes, more: report.more } };
  },
};
