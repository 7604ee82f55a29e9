import { openDb } from "../db/client";
import { config } from "../env";
import { TERMINAL_EXECUTION } from "../engine/events";
import type { ExecRecord, NodeRecord } from "../db/execution-store";
import { projectExecutions, type Projection } from "../db/history-repo";
import { historyDatabase } from "../db/shards";
import { unprojected } from "../engine/run/state";
import { expectedWake } from "../engine/run/wake";
import type { AttemptHost } from "./launch";
import { isOutputRef } from "./outputs";
import type { ExecutionView } from "./view";
import { tenantStub } from "./client";
import { crashPoint } from "./faults";
import { endTurn } from "./turn";
import type { ExecutionRow, NodeRunRow } from "../db/repo";
import type { TurnClose } from "../db/conversations-repo";
import { estimateTokens, turnAnswer } from "../engine/conversation";

/** The D1 rows for the execution and the nodes named in `nodeIds`. */
export function projectionRows(
  exec: ExecRecord,
  nodes: ReadonlyMap<string, NodeRecord>,
  nodeIds: string[],
  seq: number,
  now: number,
  wakeAt: number | null,
): { execution: ExecutionRow; nodes: NodeRunRow[]; results: NonNullable<Projection["results"]> } {
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
  const results: NonNullable<Projection["results"]> = { written: [], withdrawn: [] };
  const declared = new Map(exec.definition.nodes.flatMap((d) => (d.result ? [[d.id, d.result.name] as const] : [])));
  // A fork's kept nodes are the source's rows already: the fork writes only what it ran or patched.
  const kept = new Set(exec.fork?.kept ?? []);
  for (const id of nodeIds) {
    const n = nodes.get(id);
    if (!n || kept.has(id)) continue;
    const name = declared.get(id);
    if (name !== undefined && n.status === "succeeded")
      results.written.push({
        execution_id: exec.id,
        node_id: id,
        tenant_id: exec.tenant_id,
        workflow_id: exec.workflow_id,
        name,
        key: n.result_key,
        value: n.output ?? null,
        created_at: n.finished_at ?? now,
        seq: n.seq,
      });
    // Only a redriven node can have had a result it no longer has.
    else if (name !== undefined && n.attempt_base > 0) results.withdrawn.push({ node_id: id, seq: n.seq });
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
  return { execution, nodes: rows, results };
}

interface FailedNode {
  id: string;
  status: string;
  code: string | null;
  message: string | null;
}

/**
 * A finished turn's answer, from its execution. A failed turn says why in the words of its first failed node (its
 * code and message, what a person can act on), not only "failed nodes: …"; an output too large to keep inline is no
 * reply to show.
 */
export function answerOf(
  status: string,
  output: unknown,
  error: { code: string | null; message: string | null },
  nodes: Iterable<FailedNode> = [],
) {
  if (status === "succeeded" && isOutputRef(output))
    return turnAnswer("failed", null, {
      code: "reply_too_large",
      message: "The turn's output is over MAX_INLINE_OUTPUT_BYTES; keep the reply (output.reply) smaller.",
    });
  if (status === "failed")
    for (const n of nodes)
      if (n.status === "failed" && n.code)
        return turnAnswer(status, output, { code: n.code, message: `node ${n.id}: ${n.message ?? n.code}` });
  return turnAnswer(status, output, error);
}

/** answerOf a view of the execution (what a route or a stream reads from its object). */
export function answerOfView(view: ExecutionView) {
  const nodes = view.nodes.map((n) => ({
    id: n.node_id,
    status: n.status,
    code: n.error?.code ?? null,
    message: n.error?.message ?? null,
  }));
  return answerOf(
    view.status,
    view.output,
    { code: view.error?.code ?? null, message: view.error?.message ?? null },
    nodes,
  );
}

/** A finished conversation turn: its answer, from the execution's end. */
export function turnClose(
  exec: ExecRecord,
  nodes: ReadonlyMap<string, NodeRecord>,
  now: number,
): TurnClose | undefined {
  if (!exec.conversation || !TERMINAL_EXECUTION.has(exec.status)) return undefined;
  const failed = [...nodes.values()].map((n) => ({
    id: n.id,
    status: n.status,
    code: n.error_code,
    message: n.error_message,
  }));
  const answer = answerOf(exec.status, exec.output, { code: exec.error_code, message: exec.error_message }, failed);
  return {
    conversation_id: exec.conversation.id,
    seq: exec.conversation.seq,
    execution_id: exec.id,
    answer,
    tokens: estimateTokens(answer.content ?? ""),
    at: exec.finished_at ?? now,
  };
}

/** A workflow's own retention, counted from the end; null leaves the run to the deployment's RETENTION_DAYS. */
function retainUntil(exec: ExecRecord): number | null {
  const days = exec.definition.retention_days;
  return days === undefined || exec.finished_at === null ? null : exec.finished_at + days * 86_400_000;
}

/**
 * One write to D1 of what it lacks (rows changed since the last projection, LLM usage not yet projected); with
 * `force`, the execution row even when nothing changed (the watchdog's nudge refreshes projected_at). A failure is
 * fed back for the alarm to retry.
 */
export async function projectOnce(run: Pick<AttemptHost, "h" | "state" | "feed">, force = false): Promise<void> {
  // Building the projection takes milliseconds: let events already broadcast commit and go out first.
  if (run.h.subscribers.sentSinceAsked()) await endTurn();
  const exec = run.state.exec;
  const { nodeIds, upTo, any } = unprojected(run.state);
  const usage = run.h.store.unprojectedUsage();
  if (!any && !force && usage.length === 0) {
    run.feed({ type: "projected", upTo, labels: false });
    return;
  }
  const now = Date.now();
  const wake = expectedWake(run.state, now);
  const rows = projectionRows(exec, run.state.nodes, nodeIds, upTo, now, wake);
  const labels = exec.labels_projected ? null : exec.labels;
  // Rows the last move to another version renamed or removed go, until D1 has caught up with that move.
  const moved = exec.migrated && exec.projected_seq < exec.migrated.at_seq ? [...run.state.nodes.keys()] : undefined;
  const turn = turnClose(exec, run.state.nodes, now);
  const refused = await write(run.h.env, exec, { ...rows, usage, labels, turn, nodeIds: moved });
  if (refused !== null) {
    run.feed({ type: "projectionFailed" });
    const msg = "projection failed; retrying by alarm";
    const attempts = exec.flush_attempts;
    console.error(JSON.stringify({ level: "error", msg, execution_id: exec.id, attempts, error: refused }));
    return;
  }
  run.h.store.markUsageProjected(usage.map((u) => u.id));
  run.feed({ type: "projected", upTo, labels: true });
}

/**
 * Write one projection; null once D1 has it, else why not. The final one carries the release of the run's slot and
 * key: one TenantObject call, which writes it to D1 together with its other executions' (TenantObject.finish).
 * Until it lands every retry releases again, so a release is never lost to a crash here.
 */
async function write(env: Env, exec: ExecRecord, projection: Projection): Promise<string | null> {
  const final = TERMINAL_EXECUTION.has(exec.status);
  if (final) await crashPoint({ point: "release.before", execution_id: exec.id });
  try {
    if (!final) {
      const db = openDb(historyDatabase(env, exec.history_shard)).db;
      await projectExecutions(db, [projection]);
      return null;
    }
    const slots = config(env).MAX_RUNNING_EXECUTIONS_PER_TENANT;
    const queue = { executionId: exec.id, key: exec.concurrency_key, slots };
    const done = await tenantStub(env, exec.tenant_id).finish({ queue, shard: exec.history_shard, projection });
    return done.projected ? null : done.error;
  } catch (err) {
    return String(err);
  }
}
