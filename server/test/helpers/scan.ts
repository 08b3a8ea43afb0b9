import type { TestApp } from './test-app.js';

/** Every non-null value in every table of the app's database, as "table.column=value", to search for traces. */
export async function everyValue(app: TestApp): Promise<string[]> {
  const tables =
    app.db.dialect === 'postgres'
      ? ((await app.db.raw<{ rows: Array<{ name: string }> }>("select tablename as name from pg_tables where schemaname = 'public'")).rows).map((r) => r.name)
      : ((await app.db.raw<Array<{ name: string }>>("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")).map((r) => r.name));
  const out: string[] = [];
  for (const table of tables) {
    for (const row of (await app.db(table).select('*')) as Array<Record<string, unknown>>) {
      for (const [column, value] of Object.entries(row)) if (value !== null) out.push(`${table}.${column}=${value instanceof Date ? value.toISOString() : String(value)}`);
    }
  }
  return out;
}
