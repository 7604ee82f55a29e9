// D1 queries for tenants, keys, workflow definitions and tenant settings (origins, secrets, budgets), metrics and
// health, through Drizzle. The execution history is history-repo.ts's; schedules and monitors are cron-repo.ts's.
import { and, desc, eq, exists, inArray, is, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import * as schema from "./schema";
import type { Db } from "./client";
import { workflowExecutionStats } from "./history-repo";
import { byKey } from "./idempotency-repo";
import { before, type Cursor } from "./sql-helpers";
import {
  alerts,
  apiKeys,
  budgets,
  createRequests,
  executions,
  schedules,
  secrets,
  tenantOrigins,
  tenants,
  workflowVersions,
  workflows,
} from "./schema";

export type WorkflowRow = typeof workflows.$inferSelect;
export type { Cursor };
export type { ExecutionRow, NodeRunRow } from "./history-repo";

// ---- tenants and keys

export async function insertTenantWithKey(
  db: Db,
  tenant: { id: string; name: string; history_shard: number },
  key: { id: string; prefix: string; hash: string; name: string; scopes?: string },
  now: number,
): Promise<void> {
  await db.batch([
    db
      .insert(tenants)
      .values({ ...tenant, created_at: now })
      .onConflictDoNothing({ target: tenants.id }),
    db.insert(apiKeys).values({ ...key, tenant_id: tenant.id, created_at: now }),
  ]);
}

/** The key with this prefix and where its tenant's history lives. */
/** The key with this prefix and its tenant's history shard (a query, to run alone or in a batch). */
export function apiKeyQuery(db: Db, prefix: string) {
  return db
    .select({ key: apiKeys, history_shard: tenants.history_shard })
    .from(apiKeys)
    .innerJoin(tenants, eq(tenants.id, apiKeys.tenant_id))
    .where(eq(apiKeys.prefix, prefix));
}

export type ApiKeyRow = typeof apiKeys.$inferSelect & { history_shard: number };

export function apiKeyOf(rows: { key: typeof apiKeys.$inferSelect; history_shard: number }[]): ApiKeyRow | undefined {
  const row = rows[0];
  return row ? { ...row.key, history_shard: row.history_shard } : undefined;
}

export async function findApiKey(db: Db, prefix: string): Promise<ApiKeyRow | undefined> {
  return apiKeyOf(await apiKeyQuery(db, prefix));
}

/** Mark a key used; the `where` keeps concurrent requests from writing the same hour twice. */
export async function touchApiKey(db: Db, id: string, now: number, everyMs: number): Promise<void> {
  await db
    .update(apiKeys)
    .set({ last_used_at: now })
    .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.last_used_at), lt(apiKeys.last_used_at, now - everyMs))));
}

export async function revokeApiKey(db: Db, id: string, now: number): Promise<void> {
  await db.update(apiKeys).set({ revoked_at: now }).where(eq(apiKeys.id, id));
}

// ---- workflows

/** Insert a workflow with its version 1 in one transaction; false (and nothing written) when the id exists. */
export async function createWorkflow(
  db: Db,
  wf: { id: string; tenant_id: string; name: string; description: string | null },
  definition: unknown,
  now: number,
): Promise<boolean> {
  const [made] = await db.batch([
    db
      .insert(workflows)
      .values({ ...wf, latest_version: 1, created_at: now, updated_at: now })
      .onConflictDoNothing()
      .returning({ id: workflows.id }),
    db
      .insert(workflowVersions)
      .values({ workflow_id: wf.id, version: 1, definition, created_at: now })
      .onConflictDoNothing(),
  ]);
  return made.length > 0;
}

/** An Idempotency-Key claim (create_requests) a publish belongs to, while its resource_id is still `token`. */
export interface PublishClaim {
  scope: string;
  key: string;
  token: string;
}

/**
 * Publish `definition` as the workflow's next version n+1, atomically: the batch is one transaction, so concurrent
 * publishes get distinct versions. Null when the workflow is not live for this tenant, or when `claim` is given and
 * no longer holds `token`. With a claim, the same batch rebinds it to the version's number and completes it, so
 * the key knows its version the moment the version exists: a retry finds it, even after a crash right here.
 */
export async function publishVersion(
  db: Db,
  tenantId: string,
  id: string,
  meta: { name: string; description: string | null },
  definition: unknown,
  now: number,
  claim?: PublishClaim,
): Promise<number | null> {
  const workflowLive = and(eq(workflows.id, id), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at));
  const held =
    claim &&
    and(
      byKey({ tenant_id: tenantId, scope: claim.scope, key: claim.key }),
      eq(createRequests.resource_id, claim.token),
    );
  const live = and(
    workflowLive,
    held &&
      exists(
        db
          .select({ one: sql`1` })
          .from(createRequests)
          .where(held),
      ),
  );
  const publish = [
    db
      .update(workflows)
      .set({ latest_version: sql`${workflows.latest_version} + 1`, updated_at: now, ...meta })
      .where(live)
      .returning({ version: workflows.latest_version }),
    db.insert(workflowVersions).select(
      db
        .select({
          workflow_id: workflows.id,
          version: workflows.latest_version,
          definition: sql`${JSON.stringify(definition)}`.as("definition"),
          created_at: sql`${now}`.as("created_at"),
        })
        .from(workflows)
        .where(live),
    ),
  ] as const;
  const [updated] = held
    ? await db.batch([
        ...publish,
        db
          .update(createRequests)
          .set({
            resource_id: sql`(SELECT CAST(latest_version AS TEXT) FROM workflows WHERE id = ${id} AND tenant_id = ${tenantId})`,
            completed_at: now,
          })
          .where(
            and(
              held,
              exists(
                db
                  .select({ one: sql`1` })
                  .from(workflows)
                  .where(workflowLive),
              ),
            ),
          ),
      ])
    : await db.batch(publish);
  return updated[0]?.version ?? null;
}

/** A tenant's share weight for provider windows (1 when D1 does not know the tenant). */
export async function tenantWeight(d1: D1Database, tenantId: string): Promise<number> {
  const row = await d1.prepare("SELECT weight FROM tenants WHERE id = ?").bind(tenantId).first<{ weight: number }>();
  return row?.weight ?? 1;
}

export async function getWorkflow(db: Db, tenantId: string, id: string, version: number | null) {
  const [row] = await workflowQuery(db, tenantId, id, version);
  return row ?? null;
}

/** A workflow version (the latest when `version` is null) of the tenant given by id or by an SQL expression. */
export function workflowQuery(db: Db, tenant: string | SQL, id: string, version: number | null) {
  return db
    .select({
      workflow: workflows,
      definition: workflowVersions.definition,
      version: workflowVersions.version,
      // Aliased: a batch maps rows by position, and two columns named created_at would collapse into one.
      version_created_at: sql<number>`${workflowVersions.created_at}`.as("version_created_at"),
      history_shard: tenants.history_shard,
    })
    .from(workflows)
    .innerJoin(tenants, eq(tenants.id, workflows.tenant_id))
    .innerJoin(
      workflowVersions,
      and(
        eq(workflowVersions.workflow_id, workflows.id),
        eq(workflowVersions.version, version ?? workflows.latest_version),
      ),
    )
    .where(and(eq(workflows.id, id), eq(workflows.tenant_id, tenant), isNull(workflows.deleted_at)));
}

export async function listVersions(db: Db, tenantId: string, id: string) {
  return db
    .select({ version: workflowVersions.version, created_at: workflowVersions.created_at })
    .from(workflowVersions)
    .innerJoin(workflows, eq(workflows.id, workflowVersions.workflow_id))
    .where(and(eq(workflows.id, id), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at)))
    .orderBy(desc(workflowVersions.version));
}

/** Soft-delete a workflow and, in the same transaction, switch its schedules off saying why. */
export async function softDeleteWorkflow(db: Db, tenantId: string, id: string, now: number): Promise<boolean> {
  const [rows] = await db.batch([
    db
      .update(workflows)
      .set({ deleted_at: now, updated_at: now })
      .where(and(eq(workflows.id, id), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at)))
      .returning({ id: workflows.id }),
    db
      .update(schedules)
      .set({ enabled: false, disabled_reason: `workflow_deleted: workflow ${id} was deleted`, updated_at: now })
      .where(and(eq(schedules.workflow_id, id), eq(schedules.tenant_id, tenantId), eq(schedules.enabled, true))),
  ]);
  return rows.length > 0;
}

/**
 * Workflows with their execution count and last execution, in one statement whatever the page size, for a tenant
 * whose history is in this database; `history` names another one (a sharded tenant): then one statement for the
 * page and one grouped statement there for the counts.
 */
export async function listWorkflows(db: Db, tenantId: string, cursor: Cursor | null, limit: number, history?: Db) {
  const inPage = and(
    eq(workflows.tenant_id, tenantId),
    isNull(workflows.deleted_at),
    before(workflows.created_at, workflows.id, cursor),
  );
  const newestFirst = [desc(workflows.created_at), desc(workflows.id)];
  if (history && history !== db) {
    const page = await db
      .select({ workflow: workflows })
      .from(workflows)
      .where(inPage)
      .orderBy(...newestFirst)
      .limit(limit);
    const stats = await workflowExecutionStats(
      history,
      tenantId,
      page.map((r) => r.workflow.id),
    );
    return page.map((r) => {
      const s = stats.get(r.workflow.id);
      return {
        workflow: r.workflow,
        execution_count: s?.n ?? 0,
        last_status: s?.status ?? null,
        last_created_at: s?.created_at ?? null,
        last_id: s?.id ?? null,
      };
    });
  }
  const last = db
    .select({ id: executions.id })
    .from(executions)
    .where(eq(executions.workflow_id, workflows.id))
    .orderBy(desc(executions.created_at), desc(executions.id))
    .limit(1);
  return db
    .select({
      workflow: workflows,
      execution_count: sql<number>`(select count(*) from ${executions} where ${executions.workflow_id} = ${workflows.id})`,
      last_status: executions.status,
      last_created_at: executions.created_at,
      last_id: executions.id,
    })
    .from(workflows)
    .leftJoin(executions, eq(executions.id, sql`(${last})`))
    .where(inPage)
    .orderBy(...newestFirst)
    .limit(limit);
}

// ---- CORS origins

export async function listOrigins(db: Db, tenantId: string): Promise<string[]> {
  return (
    await db
      .select({ origin: tenantOrigins.origin })
      .from(tenantOrigins)
      .where(eq(tenantOrigins.tenant_id, tenantId))
      .orderBy(tenantOrigins.origin)
  ).map((r) => r.origin);
}

/** Replace a tenant's origin list in one batch. */
export async function setOrigins(db: Db, tenantId: string, origins: string[]): Promise<void> {
  const remove = db.delete(tenantOrigins).where(eq(tenantOrigins.tenant_id, tenantId));
  if (origins.length === 0) {
    await remove;
    return;
  }
  await db.batch([remove, db.insert(tenantOrigins).values(origins.map((origin) => ({ tenant_id: tenantId, origin })))]);
}

/** Does any tenant allow this origin? (Preflights carry no credentials, so this is all they can be judged by.) */
export async function originListed(db: Db, origin: string, tenantId?: string): Promise<boolean> {
  const rows = await db
    .select({ origin: tenantOrigins.origin })
    .from(tenantOrigins)
    .where(and(eq(tenantOrigins.origin, origin), tenantId ? eq(tenantOrigins.tenant_id, tenantId) : undefined))
    .limit(1);
  return rows.length > 0;
}

// ---- secrets (ciphertext only; src/lib/secret-box.ts seals and opens)

export async function putSecret(db: Db, row: typeof secrets.$inferInsert): Promise<void> {
  await db
    .insert(secrets)
    .values(row)
    .onConflictDoUpdate({
      target: [secrets.tenant_id, secrets.name],
      set: { ciphertext: row.ciphertext, iv: row.iv, updated_at: row.updated_at },
    });
}

export async function listSecretNames(db: Db, tenantId: string) {
  return db
    .select({ name: secrets.name, created_at: secrets.created_at, updated_at: secrets.updated_at })
    .from(secrets)
    .where(eq(secrets.tenant_id, tenantId))
    .orderBy(secrets.name);
}

export async function getSecrets(db: Db, tenantId: string, names: string[]) {
  if (names.length === 0) return [];
  return db
    .select()
    .from(secrets)
    .where(and(eq(secrets.tenant_id, tenantId), inArray(secrets.name, names)));
}

export async function deleteSecret(db: Db, tenantId: string, name: string): Promise<boolean> {
  const rows = await db
    .delete(secrets)
    .where(and(eq(secrets.tenant_id, tenantId), eq(secrets.name, name)))
    .returning({ name: secrets.name });
  return rows.length > 0;
}

// ---- LLM budgets and usage

export async function getBudget(db: Db, tenantId: string): Promise<number | null> {
  const [row] = await db
    .select({ monthly_usd: budgets.monthly_usd })
    .from(budgets)
    .where(eq(budgets.tenant_id, tenantId));
  return row?.monthly_usd ?? null;
}

export async function setBudget(db: Db, tenantId: string, monthlyUsd: number | null, now: number): Promise<void> {
  await db
    .insert(budgets)
    .values({ tenant_id: tenantId, monthly_usd: monthlyUsd, updated_at: now })
    .onConflictDoUpdate({ target: budgets.tenant_id, set: { monthly_usd: monthlyUsd, updated_at: now } });
}

// ---- metrics (aggregates over D1, so every isolate's work is counted once)

export async function metricCounts(db: Db) {
  const [sent, tenantRows] = await db.batch([
    db
      .select({ n: sql<number>`count(*)` })
      .from(alerts)
      .where(sql`${alerts.delivered_at} is not null`),
    db.select({ id: tenants.id }).from(tenants),
  ]);
  return { alerts_sent: sent[0]?.n ?? 0, tenants: tenantRows.map((t) => t.id) };
}

// ---- health

/**
 * Touches every table of the schema in one statement; fails naming the first one that is missing. The list is the
 * schema module's tables, so a table added there is probed without a second list to keep.
 */
export async function probeTables(db: Db): Promise<void> {
  const tables = (Object.values(schema) as unknown[]).filter((t): t is SQLiteTable => is(t, SQLiteTable));
  await db.all(
    sql`select 1 from ${sql.join(
      tables.map((t) => sql`${t}`),
      sql`, `,
    )} limit 0`,
  );
}

export async function appliedMigrations(db: Db): Promise<string[]> {
  const rows = await db.all<{ name: string }>(sql`select name from d1_migrations order by id`);
  return rows.map((r) => r.name);
}
