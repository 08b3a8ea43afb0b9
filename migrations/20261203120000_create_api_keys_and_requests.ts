import type { Knex } from 'knex';

/**
 * API keys and the API request log.
 *
 * api_keys holds only the SHA-256 of each key's secret; the key id is public (it is part of the key and shown in
 * lists) and is the primary key, so a request finds its key with one indexed lookup. Keys die with their account.
 *
 * api_requests is one row per API call: key, route pattern (never the raw path), status, duration, upload bytes and
 * the caller's IP address. It is rotated after API_LOG_RETENTION_DAYS by the rotate-api-log job and erased with the
 * account at purge.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.string('id', 16).primary();
    t.string('user_id', 16).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('name', 100).notNullable();
    t.string('scopes', 200).notNullable(); // space-separated
    t.string('secret_hash', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).nullable();
    t.timestamp('last_used_at', { useTz: true }).nullable();
    t.timestamp('revoked_at', { useTz: true }).nullable();
    t.index(['user_id', 'created_at']);
  });
  await knex.schema.createTable('api_requests', (t) => {
    t.bigIncrements('id').primary();
    t.string('key_id', 16).nullable();
    t.string('user_id', 16).nullable();
    t.string('method', 8).notNullable();
    t.string('route', 100).notNullable();
    t.integer('status').notNullable();
    t.integer('duration_ms').notNullable();
    t.bigInteger('upload_bytes').notNullable().defaultTo(0);
    t.string('ip', 64).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['created_at']);
    t.index(['user_id', 'created_at']);
    t.index(['key_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_requests');
  await knex.schema.dropTable('api_keys');
}
