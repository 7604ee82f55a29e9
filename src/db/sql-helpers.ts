// Query pieces every D1 repository shares: keyset cursors, rows written by SQL built once, the bound-parameter limit.
import { and, eq, getTableColumns, getTableName, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";

/** Keyset cursor over (created_at, id), newest first. */
export interface Cursor {
  created_at: number;
  id: string;
}

// D1 allows 100 bound parameters per statement; multi-row inserts are chunked to stay under it.
export const MAX_PARAMS = 100;

export function before(createdAt: SQLiteColumn, id: SQLiteColumn, cursor: Cursor | null): SQL | undefined {
  if (!cursor) return undefined;
  return or(lt(createdAt, cursor.created_at), and(eq(createdAt, cursor.created_at), lt(id, cursor.id)));
}

/**
 * Multi-row INSERTs into `table` as SQL built once, for the hot write paths (a run's projection): building the same
 * statement through Drizzle's query builder for every projection was most of its CPU. Columns and their driver
 * mapping (JSON columns stringified, as Drizzle does) come from the Drizzle table, so a column added there is written
 * here. `upsert`: on `target`, replace the other columns, only with a row whose `newerBy` column is not older;
 * without it, a row already there is kept. Rows are chunked to stay under MAX_PARAMS.
 */
export function rowWriter<T extends SQLiteTable>(
  table: T,
  conflict: { target?: (keyof T["$inferInsert"] & string)[]; upsert?: { newerBy: keyof T["$inferInsert"] & string } },
): (d1: D1Database, rows: T["$inferInsert"][]) => D1PreparedStatement[] {
  const name = getTableName(table);
  const byKey = getTableColumns(table) as Record<string, SQLiteColumn>;
  const cols = Object.entries(byKey);
  const quoted = (key: string) => `"${(byKey[key] as SQLiteColumn).name}"`;
  const keys = conflict.target ?? [];
  const onConflict = conflict.upsert
    ? `ON CONFLICT (${keys.map(quoted).join(", ")}) DO UPDATE SET ${cols
        .filter(([key]) => !keys.includes(key as never))
        .map(([, c]) => `"${c.name}" = excluded."${c.name}"`)
        .join(", ")} WHERE excluded.${quoted(conflict.upsert.newerBy)} >= "${name}".${quoted(conflict.upsert.newerBy)}`
    : `ON CONFLICT${keys.length ? ` (${keys.map(quoted).join(", ")})` : ""} DO NOTHING`;
  const head = `INSERT INTO "${name}" (${cols.map(([, c]) => `"${c.name}"`).join(", ")}) VALUES `;
  const tuple = `(${cols.map(() => "?").join(", ")})`;
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / cols.length));
  const sqlFor = new Map<number, string>();
  const text = (n: number) => {
    let s = sqlFor.get(n);
    if (!s) sqlFor.set(n, (s = `${head}${Array.from({ length: n }, () => tuple).join(", ")} ${onConflict}`));
    return s;
  };
  const bound = (row: Record<string, unknown>) =>
    cols.map(([key, c]) => {
      const v = row[key] === undefined ? (c.defaultFn?.() ?? c.default ?? null) : row[key];
      return v === null ? null : (c.mapToDriverValue(v) as unknown);
    });
  return (d1, rows) => {
    const out: D1PreparedStatement[] = [];
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement) as Record<string, unknown>[];
      out.push(d1.prepare(text(chunk.length)).bind(...chunk.flatMap(bound)));
    }
    return out;
  };
}
