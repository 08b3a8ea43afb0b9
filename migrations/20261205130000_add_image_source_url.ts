import type { Knex } from 'knex';

/**
 * Where an image uploaded by URL came from, kept only when its uploader ticks "Keep the link to where it came from"
 * (null otherwise, and for every image uploaded as a file). Shown on the share page and in the API's image object.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.string('source_url', 2048).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('source_url');
  });
}
