import type { Knex } from 'knex';

/**
 * ALTCHA challenges that were solved once (BOT_PROTECTION=altcha), kept until they expire so no replica accepts the
 * same solution twice: the primary key decides between two replicas racing on one. The hourly
 * expire-sessions-and-tokens job deletes rows past expires_at. No address or account is kept, only the challenge's
 * signature (a keyed hash of random parameters).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('altcha_spent', (t) => {
    t.string('signature', 128).primary();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('altcha_spent');
}
