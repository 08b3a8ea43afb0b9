import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Reports about images. The reporter's address goes to the security log only (abuse.report), never here.
  await knex.schema.createTable('reports', (t) => {
    t.string('id', 36).primary();
    t.string('image_id', 16).notNullable(); // no foreign key: the report outlives a removed image
    t.string('reason', 24).notNullable();
    t.text('details').nullable();
    t.string('reporter_email', 254).nullable();
    t.text('copyright').nullable(); // JSON: the fields a DMCA notice requires
    t.string('status', 16).notNullable(); // open | actioned | dismissed
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('resolved_at', { useTz: true }).nullable();
    t.string('resolution', 24).nullable();
    t.index(['status', 'created_at']);
    t.index(['image_id']);
  });
  await knex.schema.alterTable('images', (t) => {
    // sensitive: shown behind a warning, no preview image for link unfurls; hidden: not served at all.
    t.string('moderation_state', 16).nullable();
    t.text('moderation_reason').nullable();
    t.timestamp('moderated_at', { useTz: true }).nullable();
  });
  await knex.schema.alterTable('recovery_items', (t) => {
    // The statement of reasons shown to the uploader of an image removed by moderators.
    t.text('statement').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('recovery_items', (t) => {
    t.dropColumn('statement');
  });
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('moderated_at');
    t.dropColumn('moderation_reason');
    t.dropColumn('moderation_state');
  });
  await knex.schema.dropTable('reports');
}
