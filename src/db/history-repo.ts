// The queryable history of executions in D1: the projection the ExecutionObjects write, listing and search, and the
// LLM usage ledger. Everything a tenant's runs leave behind, and nothing of its configuration (repo.ts has that).
import { and, desc, eq, inArray, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "./client";
import { executionMetadata, executionTags, executions, llmUsage, nodeRuns, results } from "./schema";
import { before, rowWriter, type Cursor } from "./sql-helpers";
import { closeTurnStatements, type TurnClose } from "./conversations-repo";

export type ExecutionRow = typeof executions.$inferSelect;
export type NodeRunRow = typeof nodeRuns.$inferSelect;
export type ResultRow = typeof results.$inferSelect;

export interface Labels {
  tags: string[];
  metadata: Record<string, string>;
}

/**
 * Upsert an execution and its node runs in one transaction. Each row carries the DO's event seq, and a
 * row is only replaced by one with the same or a higher seq, so a late retry of an old projection can't regress
 * it (an equal seq is the same state, rewritten to refresh projected_at for the watchdog).
 */
export async function projectExecution(
  db: Db,
  exec: ExecutionRow,
  nodes: NodeRunRow[],
  usage: (typeof llmUsage.$inferInsert)[] = [],
  labels: Labels | null = null,
): Promise<void> {
  await projectExecutions(db, [{ execution: exec, nodes, usage, labels }]);
}

/** One execution's projection: what projectExecution writes, and what a group of them is made of. */
export interface Projection {
  execution: ExecutionRow;
  nodes: NodeRunRow[];
  usage: (typeof llmUsage.$inferInsert)[];
  labels: Labels | null;
  /** Results of the nodes in `nodes` that declare one: written when succeeded, withdrawn when no longer (redrive). */
  results?: { written: ResultRow[]; withdrawn: { node_id: string; seq: number }[] };
  /** A finished conversation turn's answer, closed with the execution's final rows. */
  turn?: TurnClose | undefined;
  /** After a move to another version: every node id it has now; rows and results of other ids are dropped. */
  nodeIds?: string[] | undefined;
}

// The projection's statements as SQL built once (sql-helpers.ts, rowWriter): every row carries the DO's seq, and an
// older one never replaces a newer one; labels and usage rows, once written, are kept.
const writeExecutions = rowWriter(executions, { target: ["id"], upsert: { newerBy: "seq" } });
const writeNodeRuns = rowWriter(nodeRuns, { target: ["execution_id", "node_id"], upsert: { newerBy: "seq" } });
const writeTags = rowWriter(executionTags, {});
const writeMetadata = rowWriter(executionMetadata, {});
const writeUsage = rowWriter(llmUsage, { target: ["id"] });
const writeResults = rowWriter(results, { target: ["execution_id", "node_id"], upsert: { newerBy: "seq" } });

/** Several executions' projections in one batch (one transaction, one round trip): a group commit. */
export async function projectExecutions(db: Db, projections: Projection[]): Promise<void> {
  const d1 = db.$client;
  const statements = projections.flatMap((p) => projectionStatements(d1, p));
  await d1.batch(statements);
}

function projectionStatements(
  d1: D1Database,
  { execution: exec, nodes, usage, labels, results: res, turn, nodeIds }: Projection,
) {
  const prune = (table: "node_runs" | "results") =>
    d1
      .prepare(`DELETE FROM ${table} WHERE execution_id = ? AND node_id NOT IN (SELECT value FROM json_each(?))`)
      .bind(exec.id, JSON.stringify(nodeIds));
  // Labels never change after start; they ride along until one projection has landed them.
  const tags = (labels?.tags ?? []).map((tag) => ({
    tenant_id: exec.tenant_id,
    tag,
    execution_id: exec.id,
    created_at: exec.created_at,
  }));
  const meta = Object.entries(labels?.metadata ?? {}).map(([key, value]) => ({
    tenant_id: exec.tenant_id,
    key,
    value,
    execution_id: exec.id,
    created_at: exec.created_at,
  }));
  return [
    ...writeExecutions(d1, [exec]),
    ...writeNodeRuns(d1, nodes),
    ...writeTags(d1, tags),
    ...writeMetadata(d1, meta),
    ...writeUsage(d1, usage),
    ...writeResults(d1, res?.written ?? []),
    // A node redriven since its result was written no longer has it; an older seq never removes a newer result.
    ...(res?.withdrawn ?? []).map((w) =>
      d1
        .prepare("DELETE FROM results WHERE execution_id = ? AND node_id = ? AND seq < ?")
        .bind(exec.id, w.node_id, w.seq),
    ),
    ...(turn ? closeTurnStatements(d1, turn) : []),
    ...(nodeIds ? [prune("node_runs"), prune("results")] : []),
  ];
}

// ---- LLM usage

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

/** Unfinished executions of one version of a workflow (what a migration may move), oldest first, at most `limit`. */
export async function unfinishedOfVersion(
  db: Db,
  tenantId: string,
  workflowId: string,
  version: number,
  limit: number,
) {
  const rows = await db
    .select({ id: executions.id })
    .from(executions)
    .where(
      and(
        eq(executions.tenant_id, tenantId),
        eq(executions.workflow_id, workflowId),
        eq(executions.version, version),
        inArray(executions.status, ["queued", "running", "paused"]),
      ),
    )
    .orderBy(executions.created_at, executions.id)
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Executions by status and node attempts by kind in one history database (summed over shards by /metrics). */
export async function historyCounts(db: Db) {
  const [byStatus, byKind] = await db.batch([
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
  ]);
  return { executions: byStatus, nodes: byKind };
}

/**
 * Per workflow: how many executions it has and its newest one, for a page of workflows whose history is in another
 * database than their definitions (a sharded tenant). One grouped statement.
 */
export async function workflowExecutionStats(db: Db, tenantId: string, workflowIds: string[]) {
  if (workflowIds.length === 0) return new Map<string, { n: number; id: string; status: string; created_at: number }>();
  const ids = sql.join(
    workflowIds.map((id) => sql`${id}`),
    sql`, `,
  );
  const rows = await db.all<{ workflow_id: string; n: number; id: string; status: string; created_at: number }>(sql`
    select e.workflow_id, c.n, e.id, e.status, e.created_at
    from ${executions} e
    join (select workflow_id, count(*) as n, max(created_at) as newest from ${executions}
          where tenant_id = ${tenantId} and workflow_id in (${ids}) group by workflow_id) c
      on e.workflow_id = c.workflow_id and e.created_at = c.newest
    where e.tenant_id = ${tenantId}
    order by e.id desc`);
  const out = new Map<string, { n: number; id: string; status: string; created_at: number }>();
  for (const r of rows) if (!out.has(r.workflow_id)) out.set(r.workflow_id, r);
  return out;
}
