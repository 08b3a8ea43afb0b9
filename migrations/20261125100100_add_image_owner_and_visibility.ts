import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.string('owner_id', 16).nullable().references('id').inTable('users').onDelete('SET NULL');
    t.string('visibility', 8).notNullable().defaultTo('unlisted'); // public | unlisted | private
    t.string('title', 200).nullable();
    // "My images" pages walk (owner, created_at, id) with keyset pagination.
    t.index(['owner_id', 'created_at', 'id']);
    t.index(['owner_id', 'visibility', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropIndex(['owner_id', 'visibility', 'created_at']);
    t.dropIndex(['owner_id', 'created_at', 'id']);
    t.dropForeign(['owner_id']);
    t.dropColumn('title');
    t.dropColumn('visibility');
    t.dropColumn('owner_id');
  });
}
