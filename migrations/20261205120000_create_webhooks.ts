import type { Knex } from 'knex';

/**
 * Webhooks (Standard Webhooks): endpoints, the outbox of deliveries and the log of attempts.
 *
 * - webhook_endpoints: an account's endpoints (owner_id set) or the instance's, which admins manage for moderation
 *   events (owner_id null). The secret is kept as given out (HMAC needs it); during a rotation the previous secret
 *   signs too until previous_secret_until.
 * - webhook_deliveries: the outbox. One row per event and endpoint, written in the transaction of the change that
 *   caused it; its id is the webhook-id header and its payload the exact body that is signed and sent. A worker
 *   claims due rows (FOR UPDATE SKIP LOCKED on PostgreSQL) with a lease and a claim token, so each goes out once
 *   across replicas and only the claim's holder records the attempt.
 * - webhook_attempts: what the owner sees in the delivery log (status, response code, duration, the first 1 KB of
 *   the answer). The prune-webhook-log job deletes finished deliveries and attempts older than
 *   WEBHOOK_LOG_RETENTION_DAYS; deleting an endpoint or an account deletes both (cascade).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_endpoints', (t) => {
    t.string('id', 32).primary();
    t.string('owner_id', 16).nullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('url', 2048).notNullable();
    t.string('description', 200).nullable();
    // Comma-separated event types the endpoint subscribes to.
    t.string('events', 500).notNullable();
    t.string('secret', 120).notNullable();
    t.string('previous_secret', 120).nullable();
    t.timestamp('previous_secret_until', { useTz: true }).nullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    // 'owner' (switched off by its owner), 'gone' (the receiver answered 410) or 'failing' (a delivery exhausted its retries).
    t.string('disabled_reason', 16).nullable();
    t.timestamp('disabled_at', { useTz: true }).nullable();
    // The first failed attempt since the last delivered one; null while deliveries succeed.
    t.timestamp('failing_since', { useTz: true }).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['owner_id']);
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.string('id', 40).primary();
    t.string('endpoint_id', 32).notNullable().references('id').inTable('webhook_endpoints').onDelete('CASCADE');
    t.string('event_type', 40).notNullable();
    t.text('payload').notNullable();
    // 'pending' (due at next_attempt_at), 'delivered', 'failed' (retries exhausted, endpoint disabled or gone).
    t.string('status', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).nullable();
    // A claimed delivery is someone's until then; a replica that died mid-send leaves it due again after the lease.
    t.timestamp('locked_until', { useTz: true }).nullable();
    // Who holds the claim: a random value per claim. Only its holder records the attempt, so a sender whose lease
    // ran out (and whose delivery another worker claimed meanwhile) records nothing.
    t.string('claim_token', 32).nullable();
    t.integer('last_response_code').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.index(['status', 'next_attempt_at']);
    t.index(['endpoint_id', 'created_at']);
    t.index(['finished_at']);
  });

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.increments('id').primary();
    t.string('delivery_id', 40).notNullable().references('id').inTable('webhook_deliveries').onDelete('CASCADE');
    t.string('endpoint_id', 32).notNullable().references('id').inTable('webhook_endpoints').onDelete('CASCADE');
    t.timestamp('attempted_at', { useTz: true }).notNullable();
    // 'delivered', 'failed' (non-2xx), 'gone' (410), 'refused' (the outbound guard refused the address), 'timeout', 'error'.
    t.string('outcome', 16).notNullable();
    t.integer('response_code').nullable();
    t.integer('duration_ms').notNullable();
    // At most the first 1 KB of the answer, as text.
    t.text('response_excerpt').nullable();
    t.string('error', 300).nullable();
    t.index(['delivery_id']);
    t.index(['endpoint_id', 'attempted_at']);
    t.index(['attempted_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_attempts');
  await knex.schema.dropTable('webhook_deliveries');
  await knex.schema.dropTable('webhook_endpoints');
}
