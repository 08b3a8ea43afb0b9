import Database from 'better-sqlite3';

/**
 * Copies a SQLite database file with SQLite's online backup API: a consistent copy even while Pixbin writes to it.
 * The source must exist; it is opened read-only.
 */
export async function backupSqliteFile(source: string, target: string): Promise<void> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(target);
  } finally {
    db.close();
  }
}
