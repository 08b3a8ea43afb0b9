import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('images', (t) => {
    t.string('id', 16).primary();
    t.string('delete_key_hash', 64).notNullable();
    t.string('original_name', 255).notNullable().defaultTo('');
    t.string('mime', 32).notNullable();
    t.string('ext', 8).notNullable();
    t.bigInteger('size').notNullable();
    t.integer('width').notNullable();
    t.integer('height').notNullable();
    t.integer('frames').notNullable().defaultTo(1);
    t.string('sha256', 64).notNullable();
    t.bigInteger('thumb_size').notNullable();
    t.integer('thumb_width').notNullable();
    t.integer('thumb_height').notNullable();
    t.string('thumb_sha256', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('images');
}
