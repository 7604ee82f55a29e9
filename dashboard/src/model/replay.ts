// The run as its event log says it was: folding the envelopes up to a seq gives every node's status at that moment.
// The live view and the time scrubber use the same fold, so what you scrub to is what you saw live; it is the
// engine's one fold (src/engine/fold.mjs), which the CLI uses too. Here: the snapshot merge and the timeline's spans.
import type { EventEnvelope, ExecutionView } from "./types";
import type { RunState } from "../../../src/engine/fold.mjs";

export { applyEvent, emptyRun, replay, type NodeState, type RunState } from "../../../src/engine/fold.mjs";

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
