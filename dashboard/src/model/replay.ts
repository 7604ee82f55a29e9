// The run as its event log says it was: folding the envelopes up to a seq gives every node's status at that moment.
// The live view and the time scrubber use the same fold, so what you scrub to is what you saw live.
import type { EventEnvelope, ExecutionView, NodeStatus, Problem } from "./types";

export interface NodeState {
  status: NodeStatus;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  next_attempt_at: string | null;
  /** `detail`: what the wait is for beyond its event (an agent's approval: step, tool, arguments). */
  waiting_for: { event: string | null; until: string | null; detail?: unknown } | null;
  error: Problem | null;
  skipped: { reason: string; detail: unknown } | null;
  /** The child execution a `workflow` node started (kept after it ends, for the link). */
  child: string | null;
  output: unknown;
  items: Record<string, number> | null;
}

export interface RunState {
  seq: number;
  status: string;
  nodes: Record<string, NodeState>;
}

const blank: NodeState = {
  status: "pending",
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
  return { seq: 0, status: "queued", nodes: Object.fromEntries(nodeIds.map((id) => [id, blank])) };
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const problem = (v: unknown): Problem | null =>
  v && typeof v === "object" && "code" in v
    ? { code: String(v.code), message: String(Reflect.get(v, "message")) }
    : null;
const counts = (v: unknown): Record<string, number> | null =>
  v && typeof v === "object" ? (v as Record<string, number>) : null;

function nodeAfter(n: NodeState, e: EventEnvelope): NodeState {
  const d = e.data;
  switch (e.type) {
    case "node.started":
      return {
        ...n,
        status: "running",
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
        child: str((d.child as { execution_id?: unknown } | undefined)?.execution_id) ?? n.child,
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

/** Apply one event to `nodes` in place; returns the execution status it sets, if any. */
function applyInPlace(nodes: Record<string, NodeState>, e: EventEnvelope): string | null {
  if (e.type.startsWith("execution.")) {
    const what = e.type.slice("execution.".length);
    if (what === "redriven" && Array.isArray(e.data.reset))
      for (const id of e.data.reset as string[]) nodes[id] = { ...blank, attempts: nodes[id]?.attempts ?? 0 };
    return what === "resumed" ? "running" : what === "redriven" ? "queued" : what;
  }
  if (e.node_id && e.type.startsWith("node.")) nodes[e.node_id] = nodeAfter(nodes[e.node_id] ?? blank, e);
  return null;
}

/** One event applied to the run (a new object; the old one is what the scrubber may still show). */
export function applyEvent(run: RunState, e: EventEnvelope): RunState {
  if (e.seq <= run.seq) return run;
  const nodes = { ...run.nodes };
  const status = applyInPlace(nodes, e);
  return { seq: e.seq, status: status ?? run.status, nodes };
}

/** The run after every event with seq <= upTo (all of them when upTo is omitted); one copy, however long the log. */
export function replay(nodeIds: readonly string[], events: readonly EventEnvelope[], upTo = Infinity): RunState {
  const run = emptyRun(nodeIds);
  for (const e of events) {
    if (e.seq > upTo) break;
    if (e.seq <= run.seq) continue;
    run.status = applyInPlace(run.nodes, e) ?? run.status;
    run.seq = e.seq;
  }
  return run;
}

/**
 * The snapshot's outputs are complete where an event's may be an R2 reference or absent (events before the page was
 * opened and trimmed by retention); a live run state takes them from the snapshot when the event log has none.
 */
export function withSnapshot(run: RunState, view: ExecutionView): RunState {
  const nodes = { ...run.nodes };
  for (const n of view.nodes) {
    const mine = nodes[n.node_id];
    if (!mine) continue;
    nodes[n.node_id] = {
      ...mine,
      output: mine.output ?? n.output,
      items: mine.items ?? n.items ?? null,
      next_attempt_at: mine.next_attempt_at ?? n.next_attempt_at,
    };
  }
  return { ...run, nodes };
}

export type SpanKind = "attempt" | "retry_delay" | "wait";
export interface Span {
  node_id: string;
  kind: SpanKind;
  attempt: number;
  start: number;
  /** null while it is still going on. */
  end: number | null;
  outcome: string | null;
}

/** Every attempt, retry delay and wait, per node, from the event log: the rows of the timeline. */
export function spans(events: readonly EventEnvelope[]): Span[] {
  const out: Span[] = [];
  const open = new Map<string, Span>();
  const close = (id: string, at: number, outcome: string | null) => {
    const s = open.get(id);
    if (s) {
      s.end = at;
      s.outcome ??= outcome;
      open.delete(id);
    }
  };
  const begin = (s: Span) => {
    open.set(s.node_id, s);
    out.push(s);
  };
  for (const e of events) {
    const id = e.node_id;
    const at = Date.parse(e.at);
    if (e.type === "execution.redriven" || e.type === "execution.cancelled" || e.type === "execution.timed_out") {
      for (const key of [...open.keys()]) close(key, at, e.type.slice("execution.".length));
      continue;
    }
    if (!id || !e.type.startsWith("node.") || e.type === "node.delta") continue;
    if (e.type === "node.progress") {
      // A resumed wait (an agent's approval or child came, a parked map moves) is the attempt going on.
      if (e.data.reason !== "resumed" || open.get(id)?.kind !== "wait") continue;
      const attempt = open.get(id)?.attempt ?? e.attempt ?? 0;
      close(id, at, "resumed");
      begin({ node_id: id, kind: "attempt", attempt, start: at, end: null, outcome: null });
      continue;
    }
    const outcome = e.type.slice("node.".length);
    const attempt = e.attempt ?? open.get(id)?.attempt ?? 0;
    close(id, at, outcome === "started" ? null : outcome);
    if (e.type === "node.started")
      begin({ node_id: id, kind: "attempt", attempt, start: at, end: null, outcome: null });
    if (e.type === "node.retrying")
      begin({ node_id: id, kind: "retry_delay", attempt, start: at, end: null, outcome: null });
    if (e.type === "node.waiting") begin({ node_id: id, kind: "wait", attempt, start: at, end: null, outcome: null });
  }
  return out;
}
