import type { Knex } from 'knex';

/** Secrets the replicas share (the CSRF secret, and later the challenge key), created on first use. */
export function createAppSecretsRepo(db: Knex) {
  return {
    /** Returns the named secret, creating it on first use; concurrent replicas all end up with the same value. */
    async getOrCreate(name: string, generate: () => string, now: Date): Promise<string> {
      await db('app_secrets').insert({ name, value: generate(), created_at: now }).onConflict('name').ignore();
      const row = (await db('app_secrets').where({ name }).first()) as { value: string };
      return row.value;
    },
  };
}

export type AppSecretsRepo = ReturnType<typeof createAppSecretsRepo>;
