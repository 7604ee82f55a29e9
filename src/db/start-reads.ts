// What starting an execution through the API needs from D1, read (and, with an Idempotency-Key, claimed) in one
// batch: the caller's key, the workflow version, and the key's claim. The workflow and the claim are found through
// the presented key's row in SQL, so one round trip suffices; the key is still verified in code (constant-time hash
// compare, revocation, scope) before anything read here is used, and the claim is only written for a key that is
// valid for writing and a workflow version that exists.
//
// Written as SQL over the D1 client rather than built by Drizzle per request: building and mapping these queries was
// a tenth of a start's CPU. The column lists still come from the Drizzle schema, so a column added there is read here.
import { and, eq, getTableColumns, isNull } from "drizzle-orm";
import type { Db } from "./client";
import type { ApiKeyRow } from "./repo";
import { apiKeys, idempotencyKeys } from "./schema";

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
  workflow: { definition: unknown; version: number; history_shard: number } | null;
  /** The row owning the Idempotency-Key (ours, or an earlier request's); null without a key or a valid caller. */
  claim: ClaimRow | null;
}

const columns = (table: Parameters<typeof getTableColumns>[0], alias: string) =>
  Object.values(getTableColumns(table))
    .map((c) => `${alias}.${c.name}`)
    .join(", ");

// ?1 prefix, ?2 workflow id, ?3 version (null: the latest); the tenant is the presented key's.
const KEY_SQL = `SELECT ${columns(apiKeys, "k")}, t.history_shard FROM api_keys k
  JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = ?1`;
const WORKFLOW_SQL = `SELECT v.definition, v.version, t.history_shard FROM workflows w
  JOIN tenants t ON t.id = w.tenant_id
  JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version)
  WHERE w.id = ?2 AND w.deleted_at IS NULL AND w.tenant_id = (SELECT tenant_id FROM api_keys WHERE prefix = ?1)`;
// ?4 key hash, ?5 Idempotency-Key, ?6 request hash, ?7 proposed execution id, ?8 now. Written only for a key valid
// for writing and a version that exists; SQLite needs the WHERE for an INSERT ... SELECT to take ON CONFLICT.
const CLAIM_SQL = `INSERT INTO idempotency_keys (tenant_id, key, request_hash, execution_id, created_at)
  SELECT k.tenant_id, ?5, ?6, ?7, ?8 FROM api_keys k
  WHERE k.prefix = ?1 AND k.hash = ?4 AND k.revoked_at IS NULL AND (',' || k.scopes || ',') LIKE '%,write,%'
    AND EXISTS (SELECT 1 FROM workflows w
      JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version)
      WHERE w.id = ?2 AND w.tenant_id = k.tenant_id AND w.deleted_at IS NULL)
  ON CONFLICT (tenant_id, key) DO NOTHING`;
const CLAIMED_SQL = `SELECT ${columns(idempotencyKeys, "i")} FROM idempotency_keys i
  WHERE i.tenant_id = (SELECT tenant_id FROM api_keys WHERE prefix = ?1) AND i.key = ?5`;

export async function readForStart(db: Db, q: StartReadsQuery): Promise<StartReads> {
  const d1 = db.$client;
  const c = q.claim;
  const params = [q.prefix, q.workflowId, q.version, q.keyHash, c?.key ?? null, c?.request_hash ?? null];
  const claimParams = [...params, c?.execution_id ?? null, c?.now ?? null];
  const statements = [d1.prepare(KEY_SQL).bind(q.prefix), d1.prepare(WORKFLOW_SQL).bind(...params.slice(0, 3))];
  if (c)
    statements.push(d1.prepare(CLAIM_SQL).bind(...claimParams), d1.prepare(CLAIMED_SQL).bind(...params.slice(0, 5)));
  const [keys, workflows, , claims] = await d1.batch(statements);
  const wf = workflows?.results[0] as { definition: string; version: number; history_shard: number } | undefined;
  return {
    key: keys?.results[0] as ApiKeyRow | undefined,
    workflow: wf ? { ...wf, definition: JSON.parse(wf.definition) as unknown } : null,
    claim: (claims?.results[0] as ClaimRow | undefined) ?? null,
  };
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
