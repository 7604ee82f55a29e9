// The one fold of an execution's event log into what a client shows: every node's state and the run's status, at
// any seq. The dashboard (live view and time scrubber) and the CLI (`edgeflow watch`) both fold with this, and a test
// holds it to the server's own view (test/durable/fold.test.ts). Pure, and with type-only imports, so Node runs it
// as it is (the CLI imports this file directly).
import type { NodeStatus } from "./events";

/** The envelope as every transport carries it; `data` per type is src/engine/event-schema.ts. */
export interface FoldEvent {
  seq: number;
  type: string;
  node_id?: string | undefined;
  attempt?: number | undefined;
  at: string;
  data: Record<string, unknown>;
}

export interface FoldProblem {
  code: string;
  message: string;
}

export interface NodeState {
  status: NodeStatus;
  /** From its node.started: what the server shows differs by kind (only a `workflow` node names its child). */
  kind: string | null;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  next_attempt_at: string | null;
  /** `detail`: what the wait is for beyond its event (an approval, an agent's tool call, a question). */
  waiting_for: { event: string | null; until: string | null; detail?: unknown } | null;
  error: FoldProblem | null;
  skipped: { reason: string; detail: unknown } | null;
  /** The child execution a `workflow` node started (kept after it ends, for the link). */
  child: string | null;
  output: unknown;
  items: Record<string, number> | null;
}

export interface RunState {
  seq: number;
  status: string;
  started_at: string | null;
  finished_at: string | null;
  error: FoldProblem | null;
  nodes: Record<string, NodeState>;
}

const FINISHED = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export const blankNode: NodeState = {
  status: "pending",
  kind: null,
  attempts: 0,
  started_at: null,
  finished_at: null,
  next_attempt_at: null,
  waiting_for: null,
  error: null,
  skipped: null,
  child: null,
  output: null,
  items: null,
};

export function emptyRun(nodeIds: readonly string[]): RunState {
  return {
    seq: 0,
    status: "queued",
    started_at: null,
    finished_at: null,
    error: null,
    nodes: Object.fromEntries(nodeIds.map((id) => [id, blankNode])),
  };
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const problem = (v: unknown): FoldProblem | null =>
  v && typeof v === "object" && "code" in v
    ? { code: String(v.code), message: String(Reflect.get(v, "message")) }
    : null;
const counts = (v: unknown): Record<string, number> | null =>
  v && typeof v === "object" ? (v as Record<string, number>) : null;

/** A node's state after one of its events. */
export function nodeAfter(n: NodeState, e: FoldEvent): NodeState {
  const d = e.data;
  switch (e.type) {
    case "node.started":
      return {
        ...n,
        status: "running",
        kind: str(d.kind) ?? n.kind,
        attempts: e.attempt ?? n.attempts + 1,
        started_at: n.started_at ?? e.at,
        finished_at: null,
        next_attempt_at: null,
        waiting_for: null,
        error: null,
      };
    case "node.retrying":
      return { ...n, status: "retrying", error: problem(d.error), next_attempt_at: str(d.next_attempt_at) };
    case "node.waiting":
      return {
        ...n,
        status: "waiting",
        waiting_for: { event: str(d.event), until: str(d.until), ...(d.detail ? { detail: d.detail } : {}) },
        // An agent's children are its tools' business; a workflow node's one child is the node's link.
        child:
          n.kind === "workflow"
            ? (str((d.child as { execution_id?: unknown } | undefined)?.execution_id) ?? n.child)
            : null,
        items: counts(d.items) ?? n.items,
      };
    case "node.succeeded":
      return {
        ...n,
        status: "succeeded",
        output: d.output ?? null,
        finished_at: e.at,
        waiting_for: null,
        items: counts(d.items) ?? n.items,
      };
    case "node.failed":
      return {
        ...n,
        status: "failed",
        error: problem(d.error),
        finished_at: e.at,
        waiting_for: null,
        next_attempt_at: null,
        items: counts(d.items) ?? n.items,
      };
    case "node.skipped":
      return {
        ...n,
        status: "skipped",
        skipped: { reason: String(d.reason), detail: d.detail ?? null },
        finished_at: e.at,
      };
    case "node.cancelled":
      return { ...n, status: "cancelled", finished_at: e.at, waiting_for: null, next_attempt_at: null };
    case "node.progress":
      // "resumed": a parked map, or an agent whose approval or child came, runs again in the same attempt.
      return d.reason === "resumed"
        ? { ...n, status: "running", waiting_for: null, items: counts(d.items) ?? n.items }
        : { ...n, items: counts(d.items) ?? n.items };
    default:
      return n;
  }
}

/** Apply one event to `run` in place (its nodes record is replaced per node, never mutated inside a node). */
function applyInPlace(run: RunState, e: FoldEvent): void {
  if (e.type.startsWith("execution.")) {
    const what = e.type.slice("execution.".length);
    if (what === "redriven") {
      for (const id of (e.data.reset as string[] | undefined) ?? [])
        run.nodes[id] = { ...blankNode, attempts: run.nodes[id]?.attempts ?? 0 };
      // A redriven run starts again (as the server's view says); its first start is in the log above.
      run.started_at = null;
      run.finished_at = null;
      run.error = null;
    }
    run.status = what === "resumed" || what === "started" ? "running" : what === "redriven" ? "queued" : what;
    if (what === "started") run.started_at ??= e.at;
    if (FINISHED.has(what)) {
      run.finished_at = e.at;
      // A cancelled run says why too; a succeeded one has none.
      run.error = problem(e.data.error);
    }
    return;
  }
  if (e.node_id && e.type.startsWith("node.")) run.nodes[e.node_id] = nodeAfter(run.nodes[e.node_id] ?? blankNode, e);
}

/** One event applied to the run (a new object; the old one is what the scrubber may still show). */
export function applyEvent(run: RunState, e: FoldEvent): RunState {
  if (e.seq <= run.seq) return run;
  const next = { ...run, nodes: { ...run.nodes } };
  applyInPlace(next, e);
  next.seq = e.seq;
  return next;
}

/** The run after every event with seq <= upTo (all of them when upTo is omitted); one copy, however long the log. */
export function replay(nodeIds: readonly string[], events: readonly FoldEvent[], upTo = Infinity): RunState {
  const run = emptyRun(nodeIds);
  for (const e of events) {
    if (e.seq > upTo) break;
    if (e.seq <= run.seq) continue;
    applyInPlace(run, e);
    run.seq = e.seq;
  }
  return run;
}
