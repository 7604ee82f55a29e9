import type { ExecRecord, NodeRecord, UsageTotals } from "../db/execution-store";
import { childIdOf } from "../engine/child";
import type { ItemCounts } from "../engine/map";
import type { ExecutionView } from "../engine/views";

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

// The shapes are declared once, as zod, in src/engine/views.ts: building them here is checked against the contract.
export type { ExecutionView, NodeView } from "../engine/views";

function childOf(n: NodeRecord): { execution_id: string } | null {
  if (n.kind !== "workflow") return null;
  const id = childIdOf(n.wait_event) ?? (n.output as { execution_id?: unknown } | null)?.execution_id;
  return typeof id === "string" ? { execution_id: id } : null;
}

export function errorOf(code: string | null, message: string | null): { code: string; message: string } | null {
  return code === null ? null : { code, message: message ?? "" };
}

/** The wire shape of one execution with all its node runs (snake_case, ISO 8601 times). */
export function executionView(
  exec: ExecRecord,
  nodes: ReadonlyMap<string, NodeRecord>,
  itemCounts?: (nodeId: string) => ItemCounts,
  usage: UsageTotals = { calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
): ExecutionView {
  const kept = new Set(exec.fork?.kept ?? []);
  return {
    id: exec.id,
    tenant_id: exec.tenant_id,
    workflow_id: exec.workflow_id,
    version: exec.version,
    status: exec.status,
    input: exec.input ?? null,
    output: exec.output ?? null,
    error: errorOf(exec.error_code, exec.error_message),
    created_at: iso(exec.created_at) as string,
    started_at: iso(exec.started_at),
    finished_at: iso(exec.finished_at),
    deadline_at: iso(exec.deadline_at) as string,
    usage: {
      llm_calls: usage.calls,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cost_usd: usage.cost_usd,
    },
    tags: exec.labels?.tags ?? [],
    metadata: exec.labels?.metadata ?? {},
    parent: exec.parent_execution_id
      ? { execution_id: exec.parent_execution_id, node_id: exec.parent_node_id ?? "" }
      : null,
    fork: exec.fork
      ? {
          from_execution_id: exec.fork.from_execution_id,
          from_node: exec.fork.from_node,
          effects: exec.fork.effects,
          label: exec.fork.label,
        }
      : null,
    waiting_for_approval: [...nodes.values()].some((n) => n.kind === "approval" && n.status === "waiting"),
    nodes: [...nodes.values()].map((n) => ({
      node_id: n.id,
      kind: n.kind,
      status: n.status,
      attempts: n.attempt,
      started_at: iso(n.started_at),
      finished_at: iso(n.finished_at),
      next_attempt_at: n.status === "retrying" ? iso(n.due_at) : null,
      waiting_for: n.status === "waiting" ? { event: n.wait_event, until: iso(n.due_at) } : null,
      error: errorOf(n.error_code, n.error_message),
      output: n.output ?? null,
      child: childOf(n),
      ...(n.kind === "map" && itemCounts ? { items: itemCounts(n.id) } : {}),
      ...(exec.fork && kept.has(n.id) ? { kept_from: exec.fork.from_execution_id } : {}),
    })),
  };
}
