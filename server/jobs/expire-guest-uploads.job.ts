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
      const due = await deps.images.listExpired(now, BATCH, ceiling);
      if (due.length === 0) break;
      const items = await deps.db.transaction(async (trx) => {
        const gone = [];
        // Only rows still carrying an expiry that has come: a claim in between cleared it and keeps the image.
        for (const image of due) {
          const stillDue = trx('images')
            .where({ id: image.id })
            .andWhere((q) => {
              q.where((e) => e.whereNotNull('expires_at').andWhere('expires_at', '<=', now));
              if (ceiling) q.orWhere((c) => c.whereNull('owner_id').andWhere('created_at', '<=', ceiling));
            });
          if ((await stillDue.delete()) > 0) gone.push(image);
        }
        if (gone.length) await deps.securityLog(trx).insert({ event: 'image.delete', detail: { imageIds: gone.map((i) => i.id), by: 'expiry' } }, now);
        return recordDeletions(deps, gone, 'expired', now, trx);
      });
      await moveToRecovery(deps, items);
      expired += items.length;
      if (due.length < BATCH) break;
    }
    return { items: expired };
  },
};
