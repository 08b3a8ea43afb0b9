import type { Knex } from 'knex';

/**
 * The purge, the export and the audit page find a person's rows by user_id; the purge also finds the rows about
 * their images (a guest upload they later claimed names no user) by image_id, which events about one image now
 * fill on insert. Both indexed, so none of them scans a log that gains a row per upload, login and page view.
 * Rows written before this migration get their image_id from the next one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('security_log', (t) => {
    t.string('image_id', 16).nullable();
    t.index(['user_id']);
    t.index(['image_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('security_log', (t) => {
    t.dropIndex(['image_id']);
    t.dropIndex(['user_id']);
    t.dropColumn('image_id');
  });
}
