// Every D1 query lives here and goes through Drizzle; routes, cron and DOs call these functions.
import { and, desc, eq, getTableColumns, inArray, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./client";
import {
  alerts,
  apiKeys,
  budgets,
  createRequests,
  cronState,
  executions,
  idempotencyKeys,
  llmUsage,
  monitorChecks,
  monitors,
  nodeRuns,
  scheduleRuns,
  schedules,
  secrets,
  tenantOrigins,
  tenants,
  workflowVersions,
  workflows,
  executionTags,
  executionMetadata,
} from "./schema";

export type ExecutionRow = typeof executions.$inferSelect;
export type NodeRunRow = typeof nodeRuns.$inferSelect;
export type WorkflowRow = typeof workflows.$inferSelect;

/** Keyset cursor over (created_at, id), newest first. */
export interface Cursor {
  created_at: number;
  id: string;
}

// D1 allows 100 bound parameters per statement; multi-row inserts are chunked to stay under it.
const MAX_PARAMS = 100;

function excluded<T extends SQLiteTable>(table: T, skip: string[]): Record<string, SQL> {
  const cols = getTableColumns(table) as Record<string, SQLiteColumn>;
  return Object.fromEntries(
    Object.entries(cols)
      .filter(([key]) => !skip.includes(key))
      .map(([key, col]) => [key, sql.raw(`excluded.\`${col.name}\``)]),
  );
}

function before(createdAt: SQLiteColumn, id: SQLiteColumn, cursor: Cursor | null): SQL | undefined {
  if (!cursor) return undefined;
  return or(lt(createdAt, cursor.created_at), and(eq(createdAt, cursor.created_at), lt(id, cursor.id)));
}

// ---- tenants and keys

export async function insertTenantWithKey(
  db: Db,
  tenant: { id: string; name: string },
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

export async function findApiKey(db: Db, prefix: string) {
  return db.query.apiKeys.findFirst({ where: eq(apiKeys.prefix, prefix) });
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

/**
 * Publish version n+1 atomically: the batch is one transaction, so concurrent publishes get distinct
 * versions. Returns the new version, or null when the workflow does not exist for this tenant.
 */
export async function publishVersion(
  db: Db,
  tenantId: string,
  id: string,
  meta: { name: string; description: string | null },
  definition: unknown,
  now: number,
): Promise<number | null> {
  const live = and(eq(workflows.id, id), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at));
  const [updated] = await db.batch([
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
  ]);
  return updated[0]?.version ?? null;
}

export async function getWorkflow(db: Db, tenantId: string, id: string, version: number | null) {
  const [row] = await db
    .select({
      workflow: workflows,
      definition: workflowVersions.definition,
      version: workflowVersions.version,
      version_created_at: workflowVersions.created_at,
    })
    .from(workflows)
    .innerJoin(
      workflowVersions,
      and(
        eq(workflowVersions.workflow_id, workflows.id),
        eq(workflowVersions.version, version ?? workflows.latest_version),
      ),
    )
    .where(and(eq(workflows.id, id), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at)));
  return row ?? null;
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

/** Workflows with their execution count and last execution, in one statement whatever the page size. */
export async function listWorkflows(db: Db, tenantId: string, cursor: Cursor | null, limit: number) {
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
    .where(
      and(
        eq(workflows.tenant_id, tenantId),
        isNull(workflows.deleted_at),
        before(workflows.created_at, workflows.id, cursor),
      ),
    )
    .orderBy(desc(workflows.created_at), desc(workflows.id))
    .limit(limit);
}

// ---- executions

/**
 * Upsert an execution and its node runs in one transaction. Each row carries the DO's event seq, and a
 * row is only replaced by one with the same or a higher seq, so a late retry of an old projection can't regress
 * it (an equal seq is the same state, rewritten to refresh projected_at for the watchdog).
 */
export interface Labels {
  tags: string[];
  metadata: Record<string, string>;
}

export async function projectExecution(
  db: Db,
  exec: ExecutionRow,
  nodes: NodeRunRow[],
  usage: (typeof llmUsage.$inferInsert)[] = [],
  labels: Labels | null = null,
): Promise<void> {
  const statements = [
    db
      .insert(executions)
      .values(exec)
      .onConflictDoUpdate({
        target: executions.id,
        set: excluded(executions, ["id"]),
        setWhere: sql`excluded.seq >= ${executions.seq}`,
      }),
  ];
  const perRow = Object.keys(getTableColumns(nodeRuns)).length;
  const chunk = Math.floor(MAX_PARAMS / perRow);
  for (let i = 0; i < nodes.length; i += chunk) {
    statements.push(
      db
        .insert(nodeRuns)
        .values(nodes.slice(i, i + chunk))
        .onConflictDoUpdate({
          target: [nodeRuns.execution_id, nodeRuns.node_id],
          set: excluded(nodeRuns, ["execution_id", "node_id"]),
          setWhere: sql`excluded.seq >= ${nodeRuns.seq}`,
        }) as never,
    );
  }
  // Labels never change after start; they ride along until one projection has landed them.
  if (labels?.tags.length) {
    statements.push(
      db
        .insert(executionTags)
        .values(
          labels.tags.map((tag) => ({
            tenant_id: exec.tenant_id,
            tag,
            execution_id: exec.id,
            created_at: exec.created_at,
          })),
        )
        .onConflictDoNothing() as never,
    );
  }
  const meta = Object.entries(labels?.metadata ?? {});
  if (meta.length) {
    statements.push(
      db
        .insert(executionMetadata)
        .values(
          meta.map(([key, value]) => ({
            tenant_id: exec.tenant_id,
            key,
            value,
            execution_id: exec.id,
            created_at: exec.created_at,
          })),
        )
        .onConflictDoNothing() as never,
    );
  }
  const usageChunk = Math.floor(MAX_PARAMS / Object.keys(getTableColumns(llmUsage)).length);
  for (let i = 0; i < usage.length; i += usageChunk) {
    statements.push(
      db
        .insert(llmUsage)
        .values(usage.slice(i, i + usageChunk))
        .onConflictDoNothing({ target: llmUsage.id }) as never,
    );
  }
  await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
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

export async function monthSpend(db: Db, tenantId: string, month: string): Promise<number> {
  const [row] = await db
    .select({ spent: sql<number>`coalesce(sum(${llmUsage.cost_usd}), 0)` })
    .from(llmUsage)
    .where(and(eq(llmUsage.tenant_id, tenantId), eq(llmUsage.month, month)));
  return Number(row?.spent ?? 0);
}

/** Spend and tokens per workflow, provider and model for one month: one grouped query. */
export async function usageReport(db: Db, tenantId: string, month: string) {
  return db
    .select({
      workflow_id: llmUsage.workflow_id,
      provider: llmUsage.provider,
      model: llmUsage.model,
      calls: sql<number>`count(*)`,
      input_tokens: sql<number>`sum(${llmUsage.input_tokens})`,
      output_tokens: sql<number>`sum(${llmUsage.output_tokens})`,
      cost_usd: sql<number>`sum(${llmUsage.cost_usd})`,
    })
    .from(llmUsage)
    .where(and(eq(llmUsage.tenant_id, tenantId), eq(llmUsage.month, month)))
    .groupBy(llmUsage.workflow_id, llmUsage.provider, llmUsage.model)
    .orderBy(desc(sql`sum(${llmUsage.cost_usd})`));
}

export interface ExecutionFilter {
  workflow_id?: string | undefined;
  status?: string | undefined;
  /** Only with workflow_id. */
  version?: number | undefined;
  tag?: string | undefined;
  /** [key, value] */
  metadata?: [string, string] | undefined;
  created_after?: number | undefined;
  created_before?: number | undefined;
}

function executionWhere(tenantId: string, filter: ExecutionFilter, cursor: Cursor | null): SQL | undefined {
  return and(
    eq(executions.tenant_id, tenantId),
    filter.workflow_id ? eq(executions.workflow_id, filter.workflow_id) : undefined,
    filter.workflow_id && filter.version !== undefined ? eq(executions.version, filter.version) : undefined,
    filter.status ? eq(executions.status, filter.status) : undefined,
    filter.created_after !== undefined ? sql`${executions.created_at} >= ${filter.created_after}` : undefined,
    filter.created_before !== undefined ? lt(executions.created_at, filter.created_before) : undefined,
    filter.tag !== undefined
      ? inArray(
          executions.id,
          sql`(select ${executionTags.execution_id} from ${executionTags} where ${executionTags.tenant_id} = ${tenantId} and ${executionTags.tag} = ${filter.tag})`,
        )
      : undefined,
    filter.metadata !== undefined
      ? inArray(
          executions.id,
          sql`(select ${executionMetadata.execution_id} from ${executionMetadata} where ${executionMetadata.tenant_id} = ${tenantId} and ${executionMetadata.key} = ${filter.metadata[0]} and ${executionMetadata.value} = ${filter.metadata[1]})`,
        )
      : undefined,
    before(executions.created_at, executions.id, cursor),
  );
}

/** How SQLite would run the list query for `filter` (for the test that no filter falls back to a table scan). */
export async function explainListExecutions(db: Db, tenantId: string, filter: ExecutionFilter): Promise<string[]> {
  const query = db
    .select()
    .from(executions)
    .where(executionWhere(tenantId, filter, null))
    .orderBy(desc(executions.created_at), desc(executions.id))
    .limit(50);
  const rows = await db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query.getSQL()}`);
  return rows.map((r) => r.detail);
}

export async function listExecutions(
  db: Db,
  tenantId: string,
  filter: ExecutionFilter,
  cursor: Cursor | null,
  limit: number,
) {
  return db
    .select()
    .from(executions)
    .where(executionWhere(tenantId, filter, cursor))
    .orderBy(desc(executions.created_at), desc(executions.id))
    .limit(limit);
}

/** How many executions match `filter` in each status (the status filter itself is ignored): one grouped query. */
export async function countExecutionsByStatus(db: Db, tenantId: string, filter: ExecutionFilter) {
  return db
    .select({ status: executions.status, n: sql<number>`count(*)` })
    .from(executions)
    .where(executionWhere(tenantId, { ...filter, status: undefined }, null))
    .groupBy(executions.status);
}

export async function getProjectedExecution(db: Db, tenantId: string, id: string) {
  const [exec, nodes] = await db.batch([
    db
      .select()
      .from(executions)
      .where(and(eq(executions.id, id), eq(executions.tenant_id, tenantId))),
    db.select().from(nodeRuns).where(eq(nodeRuns.execution_id, id)),
  ]);
  return exec[0] ? { execution: exec[0], nodes } : null;
}

// ---- metrics (aggregates over D1, so every isolate's work is counted once)

export async function metricCounts(db: Db) {
  const [byStatus, byKind, sent, tenantRows] = await db.batch([
    db
      .select({ status: executions.status, n: sql<number>`count(*)` })
      .from(executions)
      .groupBy(executions.status),
    db
      .select({
        kind: nodeRuns.kind,
        attempts: sql<number>`sum(${nodeRuns.attempt})`,
        retries: sql<number>`sum(max(${nodeRuns.attempt} - 1, 0))`,
      })
      .from(nodeRuns)
      .groupBy(nodeRuns.kind),
    db
      .select({ n: sql<number>`count(*)` })
      .from(alerts)
      .where(sql`${alerts.delivered_at} is not null`),
    db.select({ id: tenants.id }).from(tenants),
  ]);
  return { executions: byStatus, nodes: byKind, alerts_sent: sent[0]?.n ?? 0, tenants: tenantRows.map((t) => t.id) };
}

// ---- health

/** Touches every table the API uses in one statement; fails naming the first one that is missing. */
export async function probeTables(db: Db): Promise<void> {
  const tables = [
    tenants,
    apiKeys,
    workflows,
    workflowVersions,
    executions,
    nodeRuns,
    idempotencyKeys,
    createRequests,
    schedules,
    scheduleRuns,
    monitors,
    monitorChecks,
    alerts,
    budgets,
    llmUsage,
    secrets,
    tenantOrigins,
    cronState,
  ];
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
