// What starting an execution needs from D1, read (and, with an Idempotency-Key, claimed) in one batch: the workflow
// version and the key's claim, and for the API also the caller's key. Through the API, the workflow and the claim are
// found through the presented key's row in SQL, so one round trip suffices; the key is still verified in code
// (acceptKey in src/middleware/auth.ts: constant-time hash compare, revocation, scope) before anything read here is
// used, and a claim is only written for a key that is valid for writing (KEY_MAY_WRITE, the same three checks in SQL)
// and a workflow version that exists.
//
// Written as SQL over the D1 client rather than built by Drizzle per request: building and mapping these queries was
// a tenth of a start's CPU. The column lists still come from the Drizzle schema, so a column added there is read here.
import { getTableColumns } from "drizzle-orm";
import type { Db } from "./client";
import type { ApiKeyRow } from "./repo";
import { apiKeys, idempotencyKeys } from "./schema";

export type ClaimRow = typeof idempotencyKeys.$inferSelect;

/** A claim to write: the Idempotency-Key, the request's hash and the execution id this request proposes. */
export interface ClaimAsk {
  key: string;
  request_hash: string;
  execution_id: string;
}

export interface StartReadsQuery {
  prefix: string;
  /** SHA-256 of the presented key: claims are written only when it matches the stored one. */
  keyHash: string;
  workflowId: string;
  version: number | null;
  claims: ClaimAsk[];
  now: number;
}

export interface StartReads {
  key: ApiKeyRow | undefined;
  workflow: { definition: unknown; version: number; history_shard: number } | null;
  /** The rows owning the asked Idempotency-Keys (this request's, or earlier requests'), by key. */
  claims: Map<string, ClaimRow>;
}

const columns = (table: Parameters<typeof getTableColumns>[0], alias: string) =>
  Object.values(getTableColumns(table))
    .map((c) => `${alias}.${c.name}`)
    .join(", ");

// The caller's tenant: through the presented key (?1 prefix) for the API, given (?1 tenant id) for internal starts.
const BY_KEY = "(SELECT tenant_id FROM api_keys WHERE prefix = ?1)";
const BY_TENANT = "?1";
// The SQL side of acceptKey: the presented key's hash (?4), not revoked, with the write scope.
const KEY_MAY_WRITE = `k.hash = ?4 AND k.revoked_at IS NULL AND (',' || k.scopes || ',') LIKE '%,write,%'`;

const KEY_SQL = `SELECT ${columns(apiKeys, "k")}, t.history_shard FROM api_keys k
  JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = ?1`;
// ?2 workflow id, ?3 version (null: the latest).
const workflowSql = (tenant: string) => `SELECT v.definition, v.version, t.history_shard FROM workflows w
  JOIN tenants t ON t.id = w.tenant_id
  JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version)
  WHERE w.id = ?2 AND w.deleted_at IS NULL AND w.tenant_id = ${tenant}`;
const VERSION_EXISTS = `EXISTS (SELECT 1 FROM workflows w
  JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version)
  WHERE w.id = ?2 AND w.tenant_id = c.tenant_id AND w.deleted_at IS NULL)`;
// ?5 the claims as JSON [{key, request_hash, execution_id}], ?6 now. One statement for one claim or a thousand; the
// first of two items with the same key wins it. SQLite needs the WHERE for an INSERT ... SELECT to take ON CONFLICT.
const claimSql = (
  caller: string,
) => `INSERT INTO idempotency_keys (tenant_id, key, request_hash, execution_id, created_at)
  SELECT c.tenant_id, j.value ->> 'key', j.value ->> 'request_hash', j.value ->> 'execution_id', ?6
  FROM (${caller}) c, json_each(?5) j WHERE ${VERSION_EXISTS}
  ON CONFLICT (tenant_id, key) DO NOTHING`;
const API_CALLER = `SELECT k.tenant_id FROM api_keys k WHERE k.prefix = ?1 AND ${KEY_MAY_WRITE}`;
const TENANT_CALLER = "SELECT ?1 AS tenant_id";
const claimedSql = (tenant: string) => `SELECT ${columns(idempotencyKeys, "i")} FROM idempotency_keys i
  WHERE i.tenant_id = ${tenant} AND i.key IN (SELECT j.value ->> 'key' FROM json_each(?5) j)`;

/** The API's reads for a start or a batch of starts: the caller's key, the workflow, and the claims. */
export async function readForStart(db: Db, q: StartReadsQuery): Promise<StartReads> {
  const d1 = db.$client;
  const params = [q.prefix, q.workflowId, q.version, q.keyHash];
  const statements = [d1.prepare(KEY_SQL).bind(q.prefix), d1.prepare(workflowSql(BY_KEY)).bind(...params.slice(0, 3))];
  if (q.claims.length)
    statements.push(
      d1.prepare(claimSql(API_CALLER)).bind(...params, JSON.stringify(q.claims), q.now),
      d1.prepare(claimedSql(BY_KEY)).bind(...params, JSON.stringify(q.claims)),
    );
  const [keys, workflows, , claims] = await d1.batch(statements);
  return {
    key: keys?.results[0] as ApiKeyRow | undefined,
    workflow: workflowOf(workflows?.results[0]),
    claims: byKey(claims?.results),
  };
}

/** An internal start's reads (a schedule, a child, a turn): the workflow and the claim, for a known tenant. */
export async function readStart(
  db: Db,
  q: { tenantId: string; workflowId: string; version: number | null; claim: ClaimAsk | null; now: number },
): Promise<Omit<StartReads, "key">> {
  const d1 = db.$client;
  const params = [q.tenantId, q.workflowId, q.version, null];
  const statements = [d1.prepare(workflowSql(BY_TENANT)).bind(...params.slice(0, 3))];
  if (q.claim)
    statements.push(
      d1.prepare(claimSql(TENANT_CALLER)).bind(...params, JSON.stringify([q.claim]), q.now),
      d1.prepare(claimedSql(BY_TENANT)).bind(...params, JSON.stringify([q.claim])),
    );
  const [workflows, , claims] = await d1.batch(statements);
  return { workflow: workflowOf(workflows?.results[0]), claims: byKey(claims?.results) };
}

/** Started: later duplicates replay instead of waiting. */
export async function closeClaims(db: Db, tenantId: string, keys: string[], now: number): Promise<void> {
  if (!keys.length) return;
  await db.$client
    .prepare(
      `UPDATE idempotency_keys SET completed_at = ?3 WHERE tenant_id = ?1 AND completed_at IS NULL
        AND key IN (SELECT value FROM json_each(?2))`,
    )
    .bind(tenantId, JSON.stringify(keys), now)
    .run();
}

/** Give back claims this request wrote but did not use (their starts were refused after the batch). */
export async function releaseClaims(db: Db, tenantId: string, claims: { key: string; execution_id: string }[]) {
  if (!claims.length) return;
  await db.$client
    .prepare(
      `DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND completed_at IS NULL
        AND (key, execution_id) IN (SELECT j.value ->> 'key', j.value ->> 'execution_id' FROM json_each(?2) j)`,
    )
    .bind(tenantId, JSON.stringify(claims.map((c) => ({ key: c.key, execution_id: c.execution_id }))))
    .run();
}

function workflowOf(row: unknown): StartReads["workflow"] {
  const wf = row as { definition: string; version: number; history_shard: number } | undefined;
  return wf ? { ...wf, definition: JSON.parse(wf.definition) as unknown } : null;
}

function byKey(rows: unknown[] | undefined): Map<string, ClaimRow> {
  return new Map(((rows ?? []) as ClaimRow[]).map((r) => [r.key, r]));
}
