import { purgeAccount, type AccountDeletionDeps } from '../services/account-deletion.service.js';
import { daysBefore, type Job } from './job.js';

const BATCH = 50;

/** Promise 2: accounts whose grace period (ACCOUNT_PURGE_DAYS) has ended are erased. */
export const purgeDeletedAccounts: Job = {
  name: 'purge-deleted-accounts',
  schedule: '27 3 * * *',
  async run(deps, now) {
    const accountDeps: AccountDeletionDeps = { ...deps.deletion, clock: () => now };
    let purged = 0;
    const cutoff = daysBefore(now, deps.config.accountPurgeDays);
    const skipped = new Set<string>();
    for (;;) {
      const due = (await deps.repos.users.listDueForPurge(cutoff, BATCH + skipped.size)).filter((id) => !skipped.has(id));
      for (const id of due) {
        if (await purgeAccount(accountDeps, id, now, { onlyIfPendingSince: cutoff })) purged++;
        else skipped.add(id); // restored meanwhile
      }
      if (due.length < BATCH) break;
    }
    return { items: purged };
  },
};
