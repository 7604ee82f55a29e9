import type { ExecRecord, NodeRecord } from "../db/execution-store";
import type { ExecutionRow, NodeRunRow } from "../db/repo";

/** The D1 rows for the execution and the nodes named in `dirtyKeys` ("" is the execution itself). */
export function projectionRows(
  exec: ExecRecord,
  nodes: ReadonlyMap<string, NodeRecord>,
  dirtyKeys: string[],
  seq: number,
  now: number,
  wakeAt: number | null,
): { execution: ExecutionRow; nodes: NodeRunRow[] } {
  const execution: ExecutionRow = {
    id: exec.id,
    tenant_id: exec.tenant_id,
    workflow_id: exec.workflow_id,
    version: exec.version,
    status: exec.status,
    input: exec.input ?? null,
    output: exec.output ?? null,
    error_code: exec.error_code,
    error_message: exec.error_message,
    created_at: exec.created_at,
    started_at: exec.started_at,
    finished_at: exec.finished_at,
    deadline_at: exec.deadline_at,
    seq,
    projected_at: now,
    wake_at: wakeAt,
    parent_execution_id: exec.parent_execution_id,
    parent_node_id: exec.parent_node_id,
    retain_until: retainUntil(exec),
  };
  const rows: NodeRunRow[] = [];
  for (const key of dirtyKeys) {
    const n = key ? nodes.get(key) : undefined;
    if (!n) continue;
    rows.push({
      execution_id: exec.id,
      node_id: n.id,
      kind: n.kind,
      status: n.status,
      attempt: n.attempt,
      started_at: n.started_at,
      finished_at: n.finished_at,
      error_code: n.error_code,
      error_message: n.error_message,
      output: n.output ?? null,
      seq: n.seq,
    });
  }
  return { execution, nodes: rows };
}

/** A workflow's own retention, counted from the end; null leaves the run to the deployment's RETENTION_DAYS. */
function retainUntil(exec: ExecRecord): number | null {
  const days = exec.definition.retention_days;
  return days === undefined || exec.finished_at === null ? null : exec.finished_at + days * 86_400_000;
}

/** Backoff for failed projections: 0.5 s doubling to a minute; the alarm keeps retrying until D1 takes it. */
export function projectionRetryDelay(attempts: number): number {
  return Math.min(60_000, 500 * 2 ** Math.min(attempts, 7));
}
