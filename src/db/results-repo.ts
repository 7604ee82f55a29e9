// Results: node outputs a workflow declares as what it produces (`result: {name, key}`), in the tenant's history
// database. Written by the execution's projection (history-repo.ts), deleted with the execution; read here.
import { and, desc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "./client";
import { results } from "./schema";

export type ResultRow = typeof results.$inferSelect;

export interface ResultFilter {
  workflow_id?: string | undefined;
  name?: string | undefined;
  key?: string | undefined;
  /** Inclusive lower bound on created_at (ms). */
  since?: number | undefined;
  /** Exclusive upper bound on created_at (ms). */
  until?: number | undefined;
}

/** Keyset cursor over (created_at, execution_id, node_id), newest first. */
export interface ResultCursor {
  created_at: number;
  execution_id: string;
  node_id: string;
}

function resultsWhere(tenantId: string, f: ResultFilter, cursor: ResultCursor | null): SQL | undefined {
  return and(
    eq(results.tenant_id, tenantId),
    f.workflow_id === undefined ? undefined : eq(results.workflow_id, f.workflow_id),
    f.name === undefined ? undefined : eq(results.name, f.name),
    f.key === undefined ? undefined : eq(results.key, f.key),
    f.since === undefined ? undefined : gte(results.created_at, f.since),
    f.until === undefined ? undefined : lt(results.created_at, f.until),
    cursor
      ? sql`(${results.created_at}, ${results.execution_id}, ${results.node_id}) < (${cursor.created_at}, ${cursor.execution_id}, ${cursor.node_id})`
      : undefined,
  );
}

function resultsQuery(db: Db, tenantId: string, f: ResultFilter, cursor: ResultCursor | null, limit: number) {
  return db
    .select()
    .from(results)
    .where(resultsWhere(tenantId, f, cursor))
    .orderBy(desc(results.created_at), desc(results.execution_id), desc(results.node_id))
    .limit(limit);
}

/** One page of results matching `f`, newest first: one query on results_by_workflow or results_by_name. */
export function listResults(
  db: Db,
  tenantId: string,
  f: ResultFilter,
  cursor: ResultCursor | null,
  limit: number,
): Promise<ResultRow[]> {
  return resultsQuery(db, tenantId, f, cursor, limit);
}

/** How SQLite would run listResults for `f` (the test that every accepted filter is index-backed reads it). */
export async function explainListResults(db: Db, tenantId: string, f: ResultFilter): Promise<string[]> {
  const rows = await db.all<{ detail: string }>(
    sql`EXPLAIN QUERY PLAN ${resultsQuery(db, tenantId, f, null, 100).getSQL()}`,
  );
  return rows.map((r) => r.detail);
}
