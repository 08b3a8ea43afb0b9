import type { Knex } from 'knex';

/**
 * Who sent a report: 'visitor' (not signed in) or 'account'. The transparency report counts reports by source; the
 * security log also knows it, but is erased after IP_LOG_RETENTION_DAYS, so the source is kept on the report itself.
 * Reports made before this column existed keep null ("not known").
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('reports', (t) => {
    t.string('source', 16).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('reports', (t) => {
    t.dropColumn('source');
  });
}
