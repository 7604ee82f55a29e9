// D1 queries of OAuth2 connections (src/services/connections.ts owns the logic).
import { and, asc, count, eq, isNotNull } from "drizzle-orm";
import type { Db } from "./client";
import { connections } from "./schema";

export type ConnectionRow = typeof connections.$inferSelect;

export async function putConnection(db: Db, row: typeof connections.$inferInsert): Promise<ConnectionRow> {
  const { tenant_id: _t, name: _n, created_at: _c, ...set } = row;
  const [saved] = await db
    .insert(connections)
    .values(row)
    .onConflictDoUpdate({ target: [connections.tenant_id, connections.name], set })
    .returning();
  return saved as ConnectionRow;
}

export async function getConnection(db: Db, tenantId: string, name: string): Promise<ConnectionRow | null> {
  const [row] = await db
    .select()
    .from(connections)
    .where(and(eq(connections.tenant_id, tenantId), eq(connections.name, name)));
  return row ?? null;
}

export function listConnections(db: Db, tenantId: string) {
  return db.select().from(connections).where(eq(connections.tenant_id, tenantId)).orderBy(asc(connections.name));
}

export async function deleteConnection(db: Db, tenantId: string, name: string): Promise<boolean> {
  const rows = await db
    .delete(connections)
    .where(and(eq(connections.tenant_id, tenantId), eq(connections.name, name)))
    .returning({ name: connections.name });
  return rows.length > 0;
}

/** Record a token request's outcome: the error, or its success (which clears the error). */
export async function recordTokenOutcome(
  db: Db,
  tenantId: string,
  name: string,
  outcome: { error: string } | { at: number },
): Promise<void> {
  await db
    .update(connections)
    .set("error" in outcome ? { last_error: outcome.error } : { last_error: null, last_token_at: outcome.at })
    .where(and(eq(connections.tenant_id, tenantId), eq(connections.name, name)));
}

/** How many connections there are, and how many last failed to get a token, deployment-wide (for /health). */
export async function connectionHealth(db: Db): Promise<{ total: number; failing: number }> {
  const [all] = await db.select({ n: count() }).from(connections);
  const [bad] = await db.select({ n: count() }).from(connections).where(isNotNull(connections.last_error));
  return { total: all?.n ?? 0, failing: bad?.n ?? 0 };
}
