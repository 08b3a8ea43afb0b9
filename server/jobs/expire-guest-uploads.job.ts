import { moveToRecovery, recordDeletions } from '../services/recovery.service.js';
import type { Job } from './job.js';

const BATCH = 100;

/**
 * Promise 3: a guest upload with a chosen deletion time goes when that time comes, through the recovery store like
 * every deletion. Runs every five minutes, so "after 1 hour" means within five minutes of the hour.
 */
export const expireGuestUploads: Job = {
  name: 'expire-guest-uploads',
  schedule: '*/5 * * * *',
  async run(deps, now) {
    let expired = 0;
    for (;;) {
      // A ceiling also applies to guest uploads older than it (made before it was set, or lowered).
      const ceiling = deps.config.guestRetention.maxDays > 0 ? new Date(now.getTime() - deps.config.guestRetention.maxDays * 86_400_000) : null;
      const due = await deps.repos.images.listExpired(now, BATCH, ceiling);
      if (due.length === 0) break;
      const items = await deps.repos.transaction(async (tx) => {
        const gone = [];
        // Only rows still carrying an expiry that has come: a claim in between cleared it and keeps the image.
        for (const image of due) if (await tx.images.deleteIfExpired(image.id, now, ceiling)) gone.push(image);
        // One row per image, so the image column names it: a guest upload restored and then claimed is found by the purge.
        await tx.securityLog.insertMany(gone.map((image) => ({ event: 'image.delete', imageId: image.id, detail: { imageIds: [image.id], by: 'expiry' } })), now);
        return recordDeletions(tx, gone, 'expired', now);
      });
      await moveToRecovery(deps, items);
      expired += items.length;
      if (due.length < BATCH) break;
    }
    return { items: expired };
  },
};
