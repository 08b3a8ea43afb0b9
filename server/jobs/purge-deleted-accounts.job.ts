import { createEmailTokensRepo } from '../db/email-tokens.repo.js';
import { createSessionsRepo } from '../db/sessions.repo.js';
import { purgeAccount } from '../services/account-deletion.service.js';
import { createMailer } from '../services/mailer.service.js';
import { daysBefore, type Job } from './job.js';

const BATCH = 50;

/** Promise 2: accounts whose grace period (ACCOUNT_PURGE_DAYS) has ended are erased. */
export const purgeDeletedAccounts: Job = {
  name: 'purge-deleted-accounts',
  schedule: '27 3 * * *',
  async run(deps, now) {
    const accountDeps = {
      ...deps,
      sessions: createSessionsRepo(deps.db),
      emailTokens: createEmailTokensRepo(deps.db),
      mailer: createMailer({ smtpUrl: undefined, from: deps.config.mailFrom, logger: deps.logger }), // purges send nothing
      publicUrl: deps.config.publicUrl,
      purgeDays: deps.config.accountPurgeDays,
      clock: () => now,
    };
    let purged = 0;
    const cutoff = daysBefore(now, deps.config.accountPurgeDays);
    const skipped = new Set<string>();
    for (;;) {
      const due = (await deps.users.listDueForPurge(cutoff, BATCH + skipped.size)).filter((id) => !skipped.has(id));
      for (const id of due) {
        if (await purgeAccount(accountDeps, id, now, { onlyIfPendingSince: cutoff })) purged++;
        else skipped.add(id); // restored meanwhile
      }
      if (due.length < BATCH) break;
    }
    return { items: purged };
  },
};
