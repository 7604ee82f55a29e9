// What starting an execution through the API needs from D1, read (and, with an Idempotency-Key, claimed) in one
// batch: the caller's key, the workflow version, and the key's claim. The workflow and the claim are found through
// the presented key's row in SQL, so one round trip suffices; the key is still verified in code (constant-time hash
// compare, revocation, scope) before anything read here is used, and the claim is only written for a key that is
// valid for writing and a workflow version that exists.
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "./client";
import { apiKeyOf, apiKeyQuery, workflowQuery, type ApiKeyRow } from "./repo";
import { apiKeys, idempotencyKeys, workflowVersions, workflows } from "./schema";

export type ClaimRow = typeof idempotencyKeys.$inferSelect;

export interface StartReadsQuery {
  prefix: string;
  /** SHA-256 of the presented key: the claim is written only when it matches the stored one. */
  keyHash: string;
  workflowId: string;
  version: number | null;
  claim?: { key: string; request_hash: string; execution_id: string; now: number } | undefined;
}

export interface StartReads {
  key: ApiKeyRow | undefined;
  workflow: Awaited<ReturnType<typeof workflowQuery>>[number] | null;
  /** The row owning the Idempotency-Key (ours, or an earlier request's); null without a key or a valid caller. */
  claim: ClaimRow | null;
}

const tenantOfKey = (prefix: string) =>
  sql`(SELECT ${apiKeys.tenant_id} FROM ${apiKeys} WHERE ${apiKeys.prefix} = ${prefix})`;

export async function readForStart(db: Db, q: StartReadsQuery): Promise<StartReads> {
  const keyRow = apiKeyQuery(db, q.prefix);
  const workflow = workflowQuery(db, tenantOfKey(q.prefix), q.workflowId, q.version);
  if (!q.claim) {
    const [keys, wfs] = await db.batch([keyRow, workflow]);
    return { key: apiKeyOf(keys), workflow: wfs[0] ?? null, claim: null };
  }
  const c = q.claim;
  const [keys, wfs, , claims] = await db.batch([
    keyRow,
    workflow,
    // Written only for a key valid for writing and a version that exists (the same one read above).
    db
      .insert(idempotencyKeys)
      .select(
        db
          .select({
            tenant_id: apiKeys.tenant_id,
            key: sql<string>`${c.key}`.as("key"),
            request_hash: sql<string>`${c.request_hash}`.as("request_hash"),
            execution_id: sql<string>`${c.execution_id}`.as("execution_id"),
            created_at: sql<number>`${c.now}`.as("created_at"),
            completed_at: sql<number | null>`NULL`.as("completed_at"),
          })
          .from(apiKeys)
          .where(
            and(
              eq(apiKeys.prefix, q.prefix),
              eq(apiKeys.hash, q.keyHash),
              isNull(apiKeys.revoked_at),
              sql`(',' || ${apiKeys.scopes} || ',') LIKE '%,write,%'`,
              sql`EXISTS (SELECT 1 FROM ${workflows} w JOIN ${workflowVersions} v ON v.workflow_id = w.id
                AND v.version = COALESCE(${q.version}, w.latest_version)
                WHERE w.id = ${q.workflowId} AND w.tenant_id = ${apiKeys.tenant_id} AND w.deleted_at IS NULL)`,
            ),
          ),
      )
      .onConflictDoNothing(),
    db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.tenant_id, tenantOfKey(q.prefix)), eq(idempotencyKeys.key, c.key))),
  ]);
  return { key: apiKeyOf(keys), workflow: wfs[0] ?? null, claim: claims[0] ?? null };
}

/** Give back a claim this request wrote but did not use (the start was refused after the batch). */
export async function releaseClaim(db: Db, tenantId: string, key: string, executionId: string): Promise<void> {
  await db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.tenant_id, tenantId),
        eq(idempotencyKeys.key, key),
        eq(idempotencyKeys.execution_id, executionId),
        isNull(idempotencyKeys.completed_at),
      ),
    );
}
