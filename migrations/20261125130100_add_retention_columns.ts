import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    // Set by the orphan sweep when a row's bytes are gone: such an image is answered as missing, never half-served.
    t.timestamp('missing_since', { useTz: true }).nullable();
    // A guest upload's chosen deletion time; the expiry job removes it then. Null: kept until deleted.
    t.timestamp('expires_at', { useTz: true }).nullable();
    t.index(['expires_at']);
  });
  await knex.schema.alterTable('consent_log', (t) => {
    // Two-letter country from a header the operator's proxy sets (CONSENT_COUNTRY_HEADER); never looked up.
    t.string('country', 2).nullable();
  });
  await knex.schema.alterTable('users', (t) => {
    // When the account holder asked to delete it; the purge job erases it ACCOUNT_PURGE_DAYS later.
    t.timestamp('deletion_requested_at', { useTz: true }).nullable();
    t.index(['deletion_requested_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('consent_log', (t) => {
    t.dropColumn('country');
  });
  await knex.schema.alterTable('users', (t) => {
    t.dropIndex(['deletion_requested_at']);
    t.dropColumn('deletion_requested_at');
  });
  await knex.schema.alterTable('images', (t) => {
    t.dropIndex(['expires_at']);
    t.dropColumn('expires_at');
    t.dropColumn('missing_since');
  });
}
