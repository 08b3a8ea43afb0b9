import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One row per run of a scheduled job. (job, slot) is unique: of several replicas woken for the same tick,
  // only the one that records the run first does the work.
  await knex.schema.createTable('job_runs', (t) => {
    t.string('id', 36).primary();
    t.string('job', 64).notNullable();
    t.timestamp('slot', { useTz: true }).notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.integer('items').notNullable().defaultTo(0);
    t.text('error').nullable();
    t.text('detail').nullable();
    t.unique(['job', 'slot']);
    t.index(['job', 'started_at']);
  });
  // Anonymous counts per UTC day, kept after the raw rows they were counted from are rotated away.
  await knex.schema.createTable('daily_stats', (t) => {
    t.string('day', 10).notNullable(); // YYYY-MM-DD (UTC)
    t.string('metric', 64).notNullable();
    t.bigInteger('count').notNullable();
    t.primary(['day', 'metric']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('daily_stats');
  await knex.schema.dropTable('job_runs');
}
