import path from 'node:path';
import { reapDeadTempDirs } from '../lib/temp-area.js';
import { RECOVERY_PREFIX } from '../services/recovery.service.js';
import type { Job } from './job.js';

export const ORPHAN_GRACE_MINUTES = 60;
const GRACE_MS = ORPHAN_GRACE_MINUTES * 60_000;
const LIVE_KEY = /^(images|thumbs|display)\/[0-9A-Za-z]{2}\/([0-9A-Za-z]{12})\.\w+$/;
const ID_BATCH = 500;
const REPORTED_IDS = 50;

/**
 * Bytes with no row (an upload that died between storing and recording, a restore cut short) are removed once
 * they are an hour old, so an upload in progress in another replica is never touched. Recovery objects whose item
 * is gone go the same way. Rows whose bytes are missing are reported and marked, which hides them from serving;
 * the mark is lifted if the bytes come back (restored from a backup, say). Temp files that dead processes left in
 * DATA_DIR/tmp and storage/.tmp go too, whatever their age (lib/temp-area.ts; each process also reaps them
 * every few seconds, so this is the daily belt to those braces).
 */
export const sweepOrphans: Job = {
  name: 'sweep-orphans',
  schedule: '57 4 * * *',
  async run({ repos, storage, config }, now) {
    const listedAt = now.getTime();
    const temp = await reapDeadTempDirs(path.join(config.dataDir, 'tmp'));
    const tempRemoved = temp.deadFolders + temp.staleEntries + ((await storage.removeStaleTempFiles?.()) ?? 0);
    const liveById = new Map<string, Array<{ key: string; modifiedAt: Date }>>();
    const recoveryByToken = new Map<string, Array<{ key: string; modifiedAt: Date }>>();
    for await (const object of storage.list('')) {
      const live = LIVE_KEY.exec(object.key);
      if (live) {
        const list = liveById.get(live[2]!) ?? [];
        list.push(object);
        liveById.set(live[2]!, list);
      } else if (object.key.startsWith(RECOVERY_PREFIX)) {
        const token = object.key.slice(RECOVERY_PREFIX.length).split('/')[0]!;
        const list = recoveryByToken.get(token) ?? [];
        list.push(object);
        recoveryByToken.set(token, list);
      }
    }

    const stale = (o: { modifiedAt: Date }) => listedAt - o.modifiedAt.getTime() > GRACE_MS;
    /** Deletes the stale objects of every group whose name `known` does not recognise. */
    const removeUnknown = async (groups: Map<string, Array<{ key: string; modifiedAt: Date }>>, known: (names: string[]) => Promise<Set<string>>) => {
      let count = 0;
      const names = [...groups.keys()];
      for (let i = 0; i < names.length; i += ID_BATCH) {
        const batch = names.slice(i, i + ID_BATCH);
        const knownNames = await known(batch);
        for (const name of batch.filter((n) => !knownNames.has(n))) {
          for (const object of groups.get(name)!.filter(stale)) {
            await storage.delete(object.key);
            count++;
          }
        }
      }
      return count;
    };
    // Live bytes of a deleted image whose move to the recovery store has not happened yet are not orphans.
    const liveOrPendingMove = async (ids: string[]) => new Set([...(await repos.images.existingIds(ids)), ...(await repos.recovery.knownImageIds(ids))]);
    const removed = (await removeUnknown(liveById, liveOrPendingMove)) + (await removeUnknown(recoveryByToken, (tokens) => repos.recovery.knownTokens(tokens)));

    // Rows older than the listing (minus a margin): a newer row's bytes may have been stored after the listing.
    const missing: string[] = [];
    let cleared = 0;
    let after = '';
    for (;;) {
      const rows = await repos.images.listForSweep(after, new Date(listedAt - 60_000), ID_BATCH);
      if (rows.length === 0) break;
      for (const row of rows) {
        // The original and thumbnail only: a display variant the backfill is storing right now may not have been
        // listed, and without one the share page still shows the original.
        const keys = (liveById.get(row.id) ?? []).map((o) => o.key);
        const complete = keys.includes(`images/${row.id.slice(0, 2)}/${row.id}.${row.ext}`) && keys.includes(`thumbs/${row.id.slice(0, 2)}/${row.id}.webp`);
        if (!complete) missing.push(row.id);
        if (!complete && !row.missingSince) await repos.images.setMissingSince(row.id, now);
        if (complete && row.missingSince) {
          await repos.images.setMissingSince(row.id, null);
          cleared++;
        }
      }
      after = rows[rows.length - 1]!.id;
    }
    return {
      items: removed + missing.length + tempRemoved,
      detail: { orphanObjectsRemoved: removed, rowsMissingBytes: missing.length, missingIds: missing.slice(0, REPORTED_IDS), rowsBytesBack: cleared, tempEntriesRemoved: tempRemoved },
    };
  },
};
