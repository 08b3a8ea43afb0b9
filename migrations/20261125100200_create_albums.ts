import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('albums', (t) => {
    t.string('id', 16).primary();
    t.string('owner_id', 16).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('title', 200).notNullable();
    t.string('cover_image_id', 16).nullable().references('id').inTable('images').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['owner_id', 'created_at']);
  });
  await knex.schema.createTable('album_images', (t) => {
    t.string('album_id', 16).notNullable().references('id').inTable('albums').onDelete('CASCADE');
    t.string('image_id', 16).notNullable().references('id').inTable('images').onDelete('CASCADE');
    t.timestamp('added_at', { useTz: true }).notNullable();
    t.primary(['album_id', 'image_id']);
    t.index(['image_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('album_images');
  await knex.schema.dropTable('albums');
}
