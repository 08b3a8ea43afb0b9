import type { Knex } from 'knex';

/**
 * The recovery store's index: one row per deleted image whose bytes sit under recovery/<token>/ until
 * RECOVERY_DAYS pass. The row keeps the image's record so a restore can bring it back as it was.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('recovery_items', (t) => {
    t.string('image_id', 16).primary();
    // Random, never derived from the image id: a recovered object's key cannot be guessed from the old URL.
    t.string('token', 32).notNullable();
    t.text('record').notNullable();
    t.string('owner_id', 16).nullable().references('id').inTable('users').onDelete('SET NULL');
    t.string('reason', 32).notNullable();
    t.timestamp('deleted_at', { useTz: true }).notNullable();
    // False until every variant has been moved; the reaper finishes moves a failure interrupted.
    t.boolean('bytes_moved').notNullable().defaultTo(false);
    t.index(['deleted_at']);
    t.index(['owner_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('recovery_items');
}
