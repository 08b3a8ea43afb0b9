import type { Knex } from 'knex';

const BATCH = 500;
// An image id as the app makes them; anything else in a detail is left alone.
const IMAGE_ID = /^[0-9A-Za-z]{12}$/;

/** The one image a row's detail is about: { imageId } or a one-element { imageIds }; null for anything else. */
function imageIdOf(detail: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(detail);
  } catch {
    return null;
  }
  const { imageId, imageIds } = (parsed ?? {}) as { imageId?: unknown; imageIds?: unknown };
  const id = typeof imageId === 'string' ? imageId : Array.isArray(imageIds) && imageIds.length === 1 ? imageIds[0] : null;
  return typeof id === 'string' && IMAGE_ID.test(id) ? id : null;
}

/**
 * Fills security_log.image_id for rows written before the column existed, from the image id in their JSON detail.
 * A keyset walk over the primary key, a batch at a time, so memory and statements stay small however long the log.
 * Rows about several images at once (an owner's bulk delete, which names the owner anyway, and expiry batches)
 * keep image_id null: IP_LOG_RETENTION_DAYS rotates them away.
 */
export async function up(knex: Knex): Promise<void> {
  let after = '';
  for (;;) {
    const rows = (await knex('security_log')
      .where('id', '>', after)
      .whereNull('image_id')
      .andWhere((q) => q.where('detail', 'like', '%"imageId"%').orWhere('detail', 'like', '%"imageIds"%'))
      .orderBy('id')
      .limit(BATCH)
      .select('id', 'detail')) as Array<{ id: string; detail: string }>;
    if (rows.length === 0) break;
    for (const row of rows) {
      const imageId = imageIdOf(row.detail);
      if (imageId) await knex('security_log').where({ id: row.id }).update({ image_id: imageId });
    }
    after = rows[rows.length - 1]!.id;
    if (rows.length < BATCH) break;
  }
}

/** The column goes with the schema migration's down; nothing to undo here. */
export async function down(): Promise<void> {}
