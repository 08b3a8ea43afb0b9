import { runStorageCleanup } from '../services/storage-cleanup.service.js';
import type { Job } from './job.js';

/**
 * Deletes the objects that compensation could not (services/storage-cleanup.service.ts): every minute, so a key
 * recorded during a store outage is gone within a minute of the store answering again. A store that is still down
 * costs one attempt per run; a key the store refuses to delete is retried with backoff.
 */
export const storageCleanup: Job = {
  name: 'storage-cleanup',
  schedule: '* * * * *',
  async run({ repos, storage, logger }, now) {
    const run = await runStorageCleanup({ repos, storage, logger }, now);
    return { items: run.deleted + run.awaitingConfirmation + run.referenced + run.failed, detail: run };
  },
};
