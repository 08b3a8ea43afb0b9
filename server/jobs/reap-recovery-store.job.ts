import { reapRecovery } from '../services/recovery.service.js';
import type { Job } from './job.js';

/** Promise 4: deleted bytes leave the recovery store RECOVERY_DAYS after the deletion; unfinished moves finish. */
export const reapRecoveryStore: Job = {
  name: 'reap-recovery-store',
  schedule: '37 3 * * *',
  async run(deps, now) {
    const { reaped, moved } = await reapRecovery(deps, deps.config.recoveryDays, now);
    return { items: reaped + moved, detail: { reaped, moved } };
  },
};
