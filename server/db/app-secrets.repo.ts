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

    async find(name: string): Promise<string | null> {
      const row = (await db('app_secrets').where({ name }).first()) as { value: string } | undefined;
      return row?.value ?? null;
    },

    /** Sets the secret to this value, replacing any it had. */
    async replace(name: string, value: string, now: Date): Promise<void> {
      await db('app_secrets').where({ name }).delete();
      await db('app_secrets').insert({ name, value, created_at: now });
    },

    async remove(name: string): Promise<void> {
      await db('app_secrets').where({ name }).delete();
    },

    /** Deletes the secret only while it still has this value: of two racing callers, exactly one gets true. */
    async removeIfValue(name: string, value: string): Promise<boolean> {
      return (await db('app_secrets').where({ name, value }).delete()) > 0;
    },
  };
}

export type AppSecretsRepo = ReturnType<typeof createAppSecretsRepo>;
