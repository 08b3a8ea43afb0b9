import type { Knex } from 'knex';

/** Returns the named secret, creating it on first use; concurrent replicas all end up with the same value. */
export async function getOrCreateSecret(db: Knex, name: string, generate: () => string, now: Date): Promise<string> {
  await db('app_secrets').insert({ name, value: generate(), created_at: now }).onConflict('name').ignore();
  const row = (await db('app_secrets').where({ name }).first()) as { value: string };
  return row.value;
}
