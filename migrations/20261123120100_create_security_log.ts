import type { Knex } from 'knex';

// Every row here may hold an IP address; the retention job deletes by created_at.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('security_log', (t) => {
    t.string('id', 36).primary();
    t.string('event', 48).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.string('user_id', 36).nullable();
    t.string('ip', 64).nullable();
    t.string('user_agent', 512).nullable();
    t.text('detail').notNullable().defaultTo('{}');
    t.index(['created_at']);
    t.index(['event', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('security_log');
}
