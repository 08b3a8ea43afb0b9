import type { Knex } from 'knex';

/** Requests about personal data (access, erasure, restriction, objection…) and how each was handled. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('privacy_requests', (t) => {
    t.string('id', 36).primary();
    t.string('kind', 24).notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable();
    t.timestamp('due_at', { useTz: true }).notNullable();
    t.string('status', 16).notNullable();
    // Who asked: an account, and/or how to reach them. Cleared when that account is purged; the record stays.
    t.string('user_id', 16).nullable().references('id').inTable('users').onDelete('SET NULL');
    t.string('requester', 254).nullable();
    t.text('note').nullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['status', 'due_at']);
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('privacy_requests');
}
