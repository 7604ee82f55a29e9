// Scheduling decisions for one execution: which nodes are ready, skipped, due, and whether the run is over.
// Called by the execution reducer (run/step.ts) on every tick; performs no I/O.
import type { Definition, NodeDef } from "./dag";
import { TERMINAL_NODE, type NodeStatus } from "./events";

export interface NodeState {
  id: string;
  status: NodeStatus;
  attempt: number;
  /** When a retrying node may run again, or when a waiting node's sleep ends / wait times out. */
  due_at: number | null;
}

export type SkipReason = "condition_false" | "upstream_skipped" | "upstream_failed";

export interface Plan {
  ready: string[];
  skipped: { id: string; reason: SkipReason; detail: string }[];
  /** Nodes whose `when` must be evaluated before they can be decided (the shell evaluates; JSONata is async). */
  evaluate: { id: string; expr: string }[];
  /** Nodes whose `when` threw: they fail, as data for the caller to record. */
  conditionFailed: { id: string; message: string; code?: string }[];
  /** Set when every node is terminal: the execution's final status. */
  done?: { status: "succeeded" | "failed"; failed_nodes: string[] };
}

/** A `when` as evaluated: whether it holds, or the message of the error it threw. */
/** A `when` answer; an error may carry its code (template_undefined for a missing value), else condition_error. */
export type Condition = boolean | { error: string; code?: string };

/**
 * Decide the next moves. Skips propagate within one call, so a skipped chain resolves at once. A node with a `when`
 * is decided only once `conditions` has its answer; until then it is listed under `evaluate` and stays pending.
 */
export function plan(
  def: Definition,
  states: ReadonlyMap<string, NodeState>,
  conditions: ReadonlyMap<string, Condition>,
  now: number,
): Plan {
  const status = new Map([...states].map(([id, s]) => [id, s.status]));
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  const result: Plan = { ready: [], skipped: [], evaluate: [], conditionFailed: [] };
  const asked = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const node of def.nodes) {
      if (status.get(node.id) !== "pending" || asked.has(node.id)) continue;
      const verdict = needsVerdict(node, status, byId);
      if (verdict === "wait") continue;
      if (verdict !== "go") {
        status.set(node.id, "skipped");
        result.skipped.push({ id: node.id, reason: verdict.reason, detail: verdict.detail });
        changed = true;
        continue;
      }
      if (node.when) {
        const holds = conditions.get(node.id);
        if (holds === undefined) {
          asked.add(node.id);
          result.evaluate.push({ id: node.id, expr: node.when });
          continue;
        }
        if (typeof holds === "object") {
          status.set(node.id, "failed");
          result.conditionFailed.push({ id: node.id, message: holds.error, code: holds.code });
          changed = true;
          continue;
        }
        if (!holds) {
          status.set(node.id, "skipped");
          result.skipped.push({ id: node.id, reason: "condition_false", detail: `when ${node.when} is false` });
          changed = true;
          continue;
        }
      }
      status.set(node.id, "running");
      result.ready.push(node.id);
    }
  }
  for (const s of states.values()) {
    if (s.status === "retrying" && s.due_at !== null && s.due_at <= now) result.ready.push(s.id);
  }
  if ([...status.values()].every((s) => TERMINAL_NODE.has(s))) {
    const failed = def.nodes.filter(
      (n) => (status.get(n.id) === "failed" || status.get(n.id) === "cancelled") && !n.continue_on_failure,
    );
    result.done = { status: failed.length ? "failed" : "succeeded", failed_nodes: failed.map((n) => n.id) };
  }
  return result;
}

/**
 * Whether the run can move now without a timer or an event: a node running (or to resume), a pending node whose needs
 * have all ended (to start, skip or ask its `when` about), a timer already due, or every node ended (to conclude).
 * A run waiting at a node, with only its downstream pending, cannot: its alarm is its next timer, not now.
 */
export function canMove(
  def: Definition,
  states: ReadonlyMap<string, NodeState>,
  now: number,
  byId: ReadonlyMap<string, NodeDef> = new Map(def.nodes.map((n) => [n.id, n])),
): boolean {
  let ended = true;
  for (const s of states.values()) {
    if (s.status === "running") return true;
    if ((s.status === "waiting" || s.status === "retrying") && s.due_at !== null && s.due_at <= now) return true;
    if (!TERMINAL_NODE.has(s.status)) ended = false;
  }
  if (ended) return true;
  const status = new Map([...states].map(([id, s]) => [id, s.status]));
  return def.nodes.some((n) => status.get(n.id) === "pending" && needsVerdict(n, status, byId) !== "wait");
}

type NeedsVerdict = "go" | "wait" | { reason: SkipReason; detail: string };

function needsVerdict(
  node: NodeDef,
  status: ReadonlyMap<string, NodeStatus>,
  byId: ReadonlyMap<string, NodeDef>,
): NeedsVerdict {
  let verdict: NeedsVerdict = "go";
  for (const need of node.needs) {
    const s = status.get(need) as NodeStatus;
    if (!TERMINAL_NODE.has(s)) return "wait";
    if (verdict !== "go") continue;
    if (s === "skipped") {
      if (node.on_skipped_need !== "run")
        verdict = { reason: "upstream_skipped", detail: `need "${need}" was skipped` };
    } else if ((s === "failed" || s === "cancelled") && !byId.get(need)?.continue_on_failure) {
      verdict = { reason: "upstream_failed", detail: `need "${need}" ${s}` };
    }
  }
  return verdict;
}

/** Waiting nodes whose sleep ended or whose wait timed out at `now`. */
export function dueWaits<T extends NodeState>(states: Iterable<T>, now: number): T[] {
  return [...states].filter((s) => s.status === "waiting" && s.due_at !== null && s.due_at <= now);
}

/** The earliest moment anything in this execution falls due, for the single alarm. */
export function nextWake(states: Iterable<NodeState>, others: (number | null | undefined)[]): number | null {
  let min: number | null = null;
  for (const s of states) {
    if ((s.status === "retrying" || s.status === "waiting") && s.due_at !== null)
      min = min === null ? s.due_at : Math.min(min, s.due_at);
  }
  for (const t of others) if (t !== null && t !== undefined) min = min === null ? t : Math.min(min, t);
  return min;
}
