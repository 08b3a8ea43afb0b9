import type { Knex } from 'knex';

/**
 * The display variant: a WebP at most DISPLAY_MAX_PX on its longest side, made at upload and shown on share pages
 * and link previews instead of the original. Rows from before it stay null (no display variant yet) until
 * `npm run variants:backfill` or its job makes theirs; the backfill's keyset walk by id uses the primary key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.bigInteger('display_size').nullable();
    t.integer('display_width').nullable();
    t.integer('display_height').nullable();
    t.string('display_sha256', 64).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('display_sha256');
    t.dropColumn('display_height');
    t.dropColumn('display_width');
    t.dropColumn('display_size');
  });
}
