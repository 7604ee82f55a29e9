// The D1 queries behind Idempotency-Key on the create routes (create_requests; starts claim theirs in their one D1
// batch, src/db/start-reads.ts): one insert-or-read batch, so concurrent duplicates agree on one owner.
import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "./client";
import { createRequests } from "./schema";

export type CreateRequestRow = typeof createRequests.$inferSelect;
type CreateKey = Pick<CreateRequestRow, "tenant_id" | "scope" | "key">;
export const byKey = (k: CreateKey) =>
  and(eq(createRequests.tenant_id, k.tenant_id), eq(createRequests.scope, k.scope), eq(createRequests.key, k.key));

/** Claim a create route's key for `resource_id`; returns the row that owns it (ours, or an earlier request's). */
export async function claimCreateRequest(
  db: Db,
  row: Omit<CreateRequestRow, "completed_at">,
): Promise<CreateRequestRow> {
  const [, found] = await db.batch([
    db.insert(createRequests).values(row).onConflictDoNothing(),
    db.select().from(createRequests).where(byKey(row)),
  ]);
  return found[0] as CreateRequestRow;
}

export async function completeCreateRequest(db: Db, k: CreateKey, now: number): Promise<void> {
  await db
    .update(createRequests)
    .set({ completed_at: now })
    .where(and(byKey(k), isNull(createRequests.completed_at)));
}

/** What a key is bound to now (a create's own id, or what the create rebound it to), or null once released. */
export async function createRequestResource(db: Db, k: CreateKey): Promise<string | null> {
  const [row] = await db.select({ resource_id: createRequests.resource_id }).from(createRequests).where(byKey(k));
  return row?.resource_id ?? null;
}

/** Give a key back after a create that failed before it finished, so a retry starts afresh. */
export async function releaseCreateRequest(db: Db, k: CreateKey): Promise<void> {
  await db.delete(createRequests).where(and(byKey(k), isNull(createRequests.completed_at)));
}
