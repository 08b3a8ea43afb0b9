import type { Knex } from 'knex';

const BATCH = 1000;

/**
 * Fills album_images.image_created_at (added by 20261204120000_add_album_image_order) for the rows that existed
 * before it, a thousand at a time so a large instance never holds one long write. Only rows whose image exists are
 * picked, so the loop ends even if a link outlived its image.
 */
export async function up(knex: Knex): Promise<void> {
  for (;;) {
    const batch = (await knex('album_images')
      .join('images', 'images.id', 'album_images.image_id')
      .whereNull('album_images.image_created_at')
      .distinct('album_images.image_id')
      .limit(BATCH)) as Array<{ image_id: string }>;
    if (batch.length === 0) return;
    await knex('album_images')
      .whereIn(
        'image_id',
        batch.map((row) => row.image_id),
      )
      .whereNull('image_created_at')
      .update({ image_created_at: knex('images').select('created_at').whereRaw('?? = ??', ['images.id', 'album_images.image_id']) });
  }
}

export async function down(): Promise<void> {
  // The column goes with 20261204120000's down; nothing to undo here.
}
