import type { Knex } from 'knex';

/**
 * The account's device-cookie epoch: every device cookie is signed with it (services/known-devices.service.ts), and
 * a password change, a password reset or signing out every other device raises it, so the cookies issued before stop
 * counting as known browsers. Existing accounts start at 0, like new ones; their cookies from before this change carry
 * no epoch at all and are simply not recognised (their browsers get a new one at the next login).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.integer('device_epoch').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('device_epoch');
  });
}
