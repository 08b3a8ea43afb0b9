import type { Knex } from 'knex';

/**
 * Gallery pages at 100 000 images (issue 14):
 * - album_images.image_created_at: a copy of the image's created_at (which never changes), so an album page is a
 *   keyset walk of the (album_id, image_created_at, image_id) index, newest first, instead of joining every image of
 *   the album and sorting them; the album's writers fill it from the images row in the same statement, and
 *   20261204120100_backfill_album_image_order fills the existing rows.
 * - images (owner_id, moderation_state): "My images" lists the statements of reasons for the owner's moderated
 *   images on every view; without it that is a scan of all the owner's rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('album_images', (t) => {
    t.timestamp('image_created_at', { useTz: true }).nullable();
  });
  await knex.schema.alterTable('album_images', (t) => {
    t.index(['album_id', 'image_created_at', 'image_id'], 'album_images_album_order_index');
  });
  await knex.schema.alterTable('images', (t) => {
    t.index(['owner_id', 'moderation_state'], 'images_owner_moderation_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropIndex(['owner_id', 'moderation_state'], 'images_owner_moderation_index');
  });
  await knex.schema.alterTable('album_images', (t) => {
    t.dropIndex(['album_id', 'image_created_at', 'image_id'], 'album_images_album_order_index');
  });
  await knex.schema.alterTable('album_images', (t) => {
    t.dropColumn('image_created_at');
  });
}
