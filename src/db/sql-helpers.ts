// Query pieces every D1 repository shares: keyset cursors, upsert sets, the bound-parameter limit.
import { and, eq, getTableColumns, lt, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";

/** Keyset cursor over (created_at, id), newest first. */
export interface Cursor {
  created_at: number;
  id: string;
}

// D1 allows 100 bound parameters per statement; multi-row inserts are chunked to stay under it.
export const MAX_PARAMS = 100;

export function excluded<T extends SQLiteTable>(table: T, skip: string[]): Record<string, SQL> {
  const cols = getTableColumns(table) as Record<string, SQLiteColumn>;
  return Object.fromEntries(
    Object.entries(cols)
      .filter(([key]) => !skip.includes(key))
      .map(([key, col]) => [key, sql.raw(`excluded.\`${col.name}\``)]),
  );
}

export function before(createdAt: SQLiteColumn, id: SQLiteColumn, cursor: Cursor | null): SQL | undefined {
  if (!cursor) return undefined;
  return or(lt(createdAt, cursor.created_at), and(eq(createdAt, cursor.created_at), lt(id, cursor.id)));
}
