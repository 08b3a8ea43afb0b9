import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Temp files live for one request at most, so anything older than this was left by a crash. Replicas sharing a
 * DATA_DIR each clean up at start; the age check keeps one from deleting another's uploads in progress.
 */
export const STALE_AFTER_MS = 60 * 60 * 1000;

/** Removes the entries of dir last modified before now - STALE_AFTER_MS; returns how many went. */
export async function removeStaleEntries(dir: string, now = Date.now()): Promise<number> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const entry of entries) {
    const full = path.join(dir, entry);
    const stat = await fs.lstat(full).catch(() => null);
    if (stat && now - stat.mtimeMs > STALE_AFTER_MS) {
      await fs.rm(full, { recursive: true, force: true });
      removed += 1;
    }
  }
  return removed;
}
