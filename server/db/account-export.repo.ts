import type { Knex } from 'knex';
import { inBatches } from './knex.js';

/**
 * Each table that holds rows about a user, and the column that names the user. The export schema test keeps it
 * complete: a new table with a user column must be listed here (or deliberately left out there).
 */
export const EXPORTED_TABLES = {
  users: 'id',
  consent_log: 'user_id',
  sessions: 'user_id',
  email_tokens: 'user_id',
  security_log: 'user_id',
  images: 'owner_id',
  albums: 'owner_id',
  recovery_items: 'owner_id',
  privacy_requests: 'user_id',
  counter_notices: 'user_id',
  // Upheld reports about the account's images (its strikes); the export service strips who filed them.
  reports: 'owner_id',
  // The account's API keys (the service leaves out each secret's hash) and its own API request log.
  api_keys: 'user_id',
  api_requests: 'user_id',
  // The account's webhook endpoints (the service keeps no secret); their deliveries and attempts follow from them.
  webhook_endpoints: 'owner_id',
} as const;

export type ExportedTable = keyof typeof EXPORTED_TABLES;
export type RawRow = Record<string, unknown>;

/**
 * The one read that crosses every table: an account's rows as stored (snake_case columns, nothing mapped), for
 * the access and portability export. What leaves the rows (secrets) and how they are shaped is the service's call.
 */
export function createAccountExportRepo(db: Knex) {
  return {
    async rowsNaming(userId: string): Promise<Record<ExportedTable, RawRow[]> & { album_images: RawRow[]; webhook_deliveries: RawRow[]; webhook_attempts: RawRow[] }> {
      const data = {} as Record<ExportedTable, RawRow[]>;
      for (const [table, column] of Object.entries(EXPORTED_TABLES) as Array<[ExportedTable, string]>) {
        data[table] = (await db(table).where({ [column]: userId })) as RawRow[];
      }
      const albumIds = data.albums.map((a) => String(a.id));
      const albumImages = albumIds.length ? ((await db('album_images').whereIn('album_id', albumIds).select('album_id', 'image_id', 'added_at')) as RawRow[]) : [];
      // The delivery log of the account's endpoints, oldest first.
      const endpointIds = data.webhook_endpoints.map((e) => String(e.id));
      const webhookDeliveries: RawRow[] = [];
      const webhookAttempts: RawRow[] = [];
      for (const batch of inBatches(endpointIds)) {
        webhookDeliveries.push(...((await db('webhook_deliveries').whereIn('endpoint_id', batch).orderBy([{ column: 'created_at' }, { column: 'id' }])) as RawRow[]));
        webhookAttempts.push(...((await db('webhook_attempts').whereIn('endpoint_id', batch).orderBy('id')) as RawRow[]));
      }
      return { ...data, album_images: albumImages, webhook_deliveries: webhookDeliveries, webhook_attempts: webhookAttempts };
    },
  };
}

export type AccountExportRepo = ReturnType<typeof createAccountExportRepo>;
