import type { Knex } from 'knex';

/**
 * The staff audit log: who did what to which target, why and when. Append-only in the database itself: a trigger
 * refuses every UPDATE and DELETE, whatever code (or person with a SQL prompt through the app's role) tries. The
 * actor's IP address is not kept here but in the security log (event admin.action, with the audit id), so it is
 * rotated with every other address while the record of the action stays.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_log', (t) => {
    t.string('id', 36).primary();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.string('actor_id', 16).nullable(); // no foreign key: entries outlive the staff account, and are never updated
    t.string('actor_name', 32).notNullable();
    t.string('action', 48).notNullable();
    t.string('target_type', 24).notNullable();
    t.string('target_id', 64).nullable();
    t.text('reason').nullable();
    t.text('detail').notNullable().defaultTo('{}');
    t.index(['created_at']);
    t.index(['action', 'created_at']);
    t.index(['actor_id', 'created_at']);
  });
  if (knex.client.config.client === 'pg') {
    await knex.raw(`create function pixbin_audit_log_append_only() returns trigger language plpgsql as $$
      begin raise exception 'audit_log is append-only'; end $$`);
    await knex.raw('create trigger audit_log_append_only before update or delete on audit_log for each row execute function pixbin_audit_log_append_only()');
  } else {
    await knex.raw("create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'audit_log is append-only'); end");
    await knex.raw("create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'audit_log is append-only'); end");
  }
  await knex.schema.alterTable('sessions', (t) => {
    // When the session's user last typed their password again (staff actions that destroy need a recent one).
    t.timestamp('reauth_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('reauth_at');
  });
  if (knex.client.config.client === 'pg') {
    await knex.raw('drop trigger if exists audit_log_append_only on audit_log');
    await knex.raw('drop function if exists pixbin_audit_log_append_only()');
  }
  await knex.schema.dropTable('audit_log');
}
