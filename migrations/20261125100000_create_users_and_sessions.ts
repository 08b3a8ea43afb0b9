import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 16).primary();
    t.string('username', 32).notNullable();
    // Lower-cased copies carry the uniqueness, so "Alice" and "alice" cannot both exist on either database.
    t.string('username_key', 32).notNullable().unique();
    t.string('email', 254).notNullable();
    t.string('email_key', 254).notNullable().unique();
    t.timestamp('email_verified_at', { useTz: true }).nullable();
    t.string('password_hash', 100).notNullable();
    t.bigInteger('quota_bytes').nullable(); // null: the configured default applies
    t.bigInteger('used_bytes').notNullable().defaultTo(0);
    t.boolean('marketing_consent').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable();
  });

  // Terms acceptance, age confirmation and marketing consent: one row per decision, never updated.
  await knex.schema.createTable('consent_log', (t) => {
    t.string('id', 36).primary();
    t.string('user_id', 16).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('kind', 32).notNullable();
    t.string('value', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['user_id', 'created_at']);
  });

  await knex.schema.createTable('sessions', (t) => {
    t.string('id_hash', 64).primary(); // SHA-256 of the cookie value; the value itself is never stored
    t.string('public_id', 16).notNullable().unique(); // names the session on the sessions page
    t.string('user_id', 16).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('user_agent', 512).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_seen_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('absolute_expires_at', { useTz: true }).notNullable();
    t.index(['user_id']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('email_tokens', (t) => {
    t.string('token_hash', 64).primary();
    t.string('user_id', 16).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('purpose', 16).notNullable(); // verify_email | reset_password
    t.string('email', 254).nullable(); // the address being verified
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true }).nullable();
    t.index(['user_id', 'purpose']);
  });

  // Shared by every limiter (the key carries its prefix); the schema is rate-limiter-flexible's own.
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire').nullable();
    t.index(['expire']);
  });

  // Server secrets generated on first start and shared by every replica through the database.
  await knex.schema.createTable('app_secrets', (t) => {
    t.string('name', 32).primary();
    t.string('value', 128).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['app_secrets', 'rate_limits', 'email_tokens', 'sessions', 'consent_log', 'users']) await knex.schema.dropTable(table);
}
