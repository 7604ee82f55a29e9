// Move the unfinished executions of one version of a workflow to another (src/engine/migration.ts decides each one,
// in its own object, on its state as it is then): a dry run reports which can move and why the rest cannot; a real
// run moves the movable ones, one atomic object call each, one migration of a workflow applying at a time.
import type { Db } from "../db/client";
import { unfinishedOfVersion } from "../db/history-repo";
import { getWorkflow } from "../db/repo";
import { executionStub, tenantStub } from "../durable/client";
import type { Definition, FieldError } from "../engine/dag";
import { nodeMapErrors, type MigrationAnswer, type MigrationReport } from "../engine/migration";
import { inBatches } from "../lib/batches";

/** The most executions one request moves; the report says when there were more. */
export const MAX_MIGRATED = 10_000;
const LEASE_MS = 15 * 60_000;
// Object calls in flight at once. 32 stalled a 1,000-run migration under local workerd (bench/migrations.mjs).
const MIGRATE_WIDTH = 6;

export interface MigrationRequest {
  from: number;
  to: number;
  node_map: Record<string, string>;
  filter?: { execution_ids?: string[] | undefined } | undefined;
  dry_run: boolean;
}

export type MigrationOutcome =
  | { ok: true; report: MigrationReport }
  | { ok: false; status: 404 | 409 | 422; code: string; message: string; errors?: FieldError[] };

export async function migrateExecutions(
  env: Env,
  db: Db,
  history: Db,
  tenantId: string,
  workflowId: string,
  req: MigrationRequest,
): Promise<MigrationOutcome> {
  const [from, to] = await Promise.all([
    getWorkflow(db, tenantId, workflowId, req.from),
    getWorkflow(db, tenantId, workflowId, req.to),
  ]);
  if (!from && !to && !(await getWorkflow(db, tenantId, workflowId, null)))
    return { ok: false, status: 404, code: "workflow_not_found", message: `Workflow ${workflowId} does not exist.` };
  const missing: FieldError[] = [
    ...(from ? [] : [{ path: "from", message: `workflow ${workflowId} has no version ${req.from}` }]),
    ...(to ? [] : [{ path: "to", message: `workflow ${workflowId} has no version ${req.to}` }]),
  ];
  if (!from || !to)
    return { ok: false, status: 422, code: "version_not_found", message: "No such version.", errors: missing };
  const toDef = to.definition as Definition;
  const mapErrors = nodeMapErrors(from.definition as Definition, toDef, req.node_map);
  if (mapErrors.length)
    return { ok: false, status: 422, code: "invalid_node_map", message: "node_map does not fit.", errors: mapErrors };
  const tenant = tenantStub(env, tenantId);
  const lease = `migration:${workflowId}:${crypto.randomUUID()}`;
  if (!req.dry_run && !(await tenant.acquire(`migration:${workflowId}`, lease, 1, LEASE_MS)).ok)
    return {
      ok: false,
      status: 409,
      code: "migration_in_progress",
      message: `A migration of workflow ${workflowId} is applying; wait until it has finished.`,
    };
  try {
    const listed = await unfinishedOfVersion(history, tenantId, workflowId, req.from, MAX_MIGRATED + 1);
    const wanted = req.filter?.execution_ids ? new Set(req.filter.execution_ids) : null;
    const ids = listed.slice(0, MAX_MIGRATED).filter((id) => !wanted || wanted.has(id));
    const ask = { from: req.from, to: req.to, definition: toDef, node_map: req.node_map, dry_run: req.dry_run };
    const settled = await inBatches(ids, MIGRATE_WIDTH, async (id) => {
      const answer = (await executionStub(env, id).migrate(tenantId, ask)) as unknown as MigrationAnswer | null;
      return answer ?? { execution_id: id, moved: false as const, movable: false as const, reason: "not found" };
    });
    const executions = settled.map((r, i) =>
      r.status === "fulfilled"
        ? r.value
        : { execution_id: ids[i] as string, moved: false as const, movable: false as const, reason: String(r.reason) },
    );
    const movable = executions.filter((e) => e.movable).length;
    return {
      ok: true,
      report: {
        workflow_id: workflowId,
        from: req.from,
        to: req.to,
        dry_run: req.dry_run,
        total: executions.length,
        movable,
        blocked: executions.length - movable,
        moved: executions.filter((e) => e.moved).length,
        truncated: listed.length > MAX_MIGRATED,
        executions,
      },
    };
  } finally {
    if (!req.dry_run) await tenant.release([lease]);
  }
}
