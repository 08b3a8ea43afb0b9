import type { Knex } from 'knex';

/**
 * Objects the store may hold that no row will ever reference: a write whose outcome is unknown (the store timed out
 * or the connection broke after the request was sent, so it may still store it when it wakes) or a compensating
 * delete that failed. The storage-cleanup job deletes them, with backoff, until the store confirms they are gone;
 * a key that a row references by then is left alone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('storage_cleanup', (t) => {
    t.string('key', 512).primary();
    // The image the key belongs to, checked against images and the recovery store before anything is deleted.
    t.string('image_id', 16).nullable();
    t.string('reason', 32).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.string('last_error', 500).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('next_attempt_at', { useTz: true }).notNullable();
    // When the store first confirmed the key gone; a write of unknown outcome is confirmed a second time later.
    t.timestamp('confirmed_at', { useTz: true }).nullable();
    t.index(['next_attempt_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('storage_cleanup');
}
