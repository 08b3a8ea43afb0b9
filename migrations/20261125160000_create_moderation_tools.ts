import type { Knex } from 'knex';

/**
 * The rest of the moderation tools: account suspension, upload bans by address range, album reports, copyright
 * counter-notices and strikes, and the local hash blocklist.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('suspended_at', { useTz: true }).nullable();
    t.text('suspended_reason').nullable(); // the statement of reasons the account holder is shown
  });

  await knex.schema.alterTable('reports', (t) => {
    // A report is about an image or an album: exactly one of the two is set.
    t.string('image_id', 16).nullable().alter();
    t.string('album_id', 16).nullable();
    // The uploader when the report was upheld: what repeat-infringer strikes are counted from.
    t.string('owner_id', 16).nullable();
    t.index(['album_id']);
    t.index(['owner_id', 'reason', 'status']);
  });

  await knex.schema.alterTable('albums', (t) => {
    t.string('moderation_state', 16).nullable(); // hidden: the album page answers 404
    t.text('moderation_reason').nullable();
    t.timestamp('moderated_at', { useTz: true }).nullable();
  });

  // Counter-notices to upheld copyright notices, recorded by staff or filed by the uploader.
  await knex.schema.createTable('counter_notices', (t) => {
    t.string('id', 36).primary();
    t.string('report_id', 36).notNullable().references('id').inTable('reports').onDelete('CASCADE');
    t.string('image_id', 16).notNullable();
    t.string('user_id', 16).nullable(); // the uploader who filed it, so an account purge can anonymise it
    t.string('name', 200).notNullable();
    t.string('contact', 500).notNullable();
    t.text('statement').notNullable();
    t.string('signature', 200).notNullable();
    t.string('status', 16).notNullable(); // received | accepted | rejected
    t.text('note').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('resolved_at', { useTz: true }).nullable();
    t.index(['status', 'created_at']);
    t.index(['report_id']);
  });

  // Upload bans. Every ban expires (at most IP_LOG_RETENTION_DAYS ahead), and a job deletes expired ones.
  await knex.schema.createTable('ip_bans', (t) => {
    t.string('id', 36).primary();
    t.string('cidr', 64).notNullable();
    t.text('reason').nullable();
    t.string('created_by', 16).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });

  // Content hashes of removed images. Computed here, matched here: nothing leaves the server.
  await knex.schema.createTable('hash_blocklist', (t) => {
    t.string('id', 36).primary();
    t.string('pixel_sha256', 64).notNullable(); // SHA-256 of the normalised pixels
    t.string('phash', 16).notNullable(); // 64-bit perceptual hash, hex
    t.string('source_image_id', 16).nullable();
    t.text('reason').nullable();
    t.string('created_by', 16).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['pixel_sha256']);
  });
  await knex.schema.alterTable('images', (t) => {
    t.string('pixel_sha256', 64).nullable();
    t.string('phash', 16).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('phash');
    t.dropColumn('pixel_sha256');
  });
  await knex.schema.dropTable('hash_blocklist');
  await knex.schema.dropTable('ip_bans');
  await knex.schema.dropTable('counter_notices');
  await knex.schema.alterTable('albums', (t) => {
    t.dropColumn('moderated_at');
    t.dropColumn('moderation_reason');
    t.dropColumn('moderation_state');
  });
  await knex.schema.alterTable('reports', (t) => {
    t.dropIndex(['owner_id', 'reason', 'status']);
    t.dropIndex(['album_id']);
    t.dropColumn('owner_id');
    t.dropColumn('album_id');
    // image_id stays nullable: album reports would not fit the old constraint.
  });
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('suspended_reason');
    t.dropColumn('suspended_at');
  });
}
