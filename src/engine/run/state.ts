// The state one execution's reducer works on: the execution row and its nodes, exactly as the ExecutionObject keeps
// them in its SQLite storage, plus what the reducer needs to number events and pace the D1 projection.
import type { Definition, NodeDef } from "../dag";
import type { ExecutionStatus } from "../events";
import type { Lane } from "../fair-share";
import type { ForkInfo, ForkSeed } from "../fork";
import type { Condition, NodeState } from "../scheduler";

export interface ExecRecord {
  id: string;
  tenant_id: string;
  workflow_id: string;
  version: number;
  definition: Definition;
  input: unknown;
  status: ExecutionStatus;
  output: unknown;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  deadline_at: number;
  /** When the next D1 projection attempt is due; null when D1 is up to date. */
  flush_due_at: number | null;
  flush_attempts: number;
  /** The rendered concurrency key this execution holds or waits for; null when it has none. */
  concurrency_key: string | null;
  /** W3C trace id every outbound call of this execution is tagged with. */
  trace_id: string | null;
  /** Tags and metadata given at start (immutable); projected to D1 once. */
  labels: { tags: string[]; metadata: Record<string, string> } | null;
  labels_projected: number;
  /** The execution and node that started this one (a `workflow` node), told when this one finishes. */
  parent_execution_id: string | null;
  parent_node_id: string | null;
  parent_notified: number;
  /** Where this execution's history is projected: the tenant's shard (-1 the main database). */
  history_shard: number;
  /**
   * The seq up to which D1 has this execution: rows whose seq is above it (the execution row when the log is, a node
   * when its last event is) are what the next projection writes. -1 for a new execution: every node is written.
   */
  projected_seq: number;
  /** The conversation turn this execution runs (its user message's seq); its end is that turn's answer. */
  conversation: ConversationTurn | null;
  /** The admission lane it was started in (src/engine/fair-share.ts). */
  lane: Lane;
  /** The run this one was forked from, and what its re-run nodes may take from it (src/engine/fork.ts). */
  fork: ForkInfo | null;
  /**
   * The last move to another version (src/engine/migration.ts): from which, and the seq of its event. Until D1 has
   * that seq, a projection also drops the node rows the move renamed or removed.
   */
  migrated: { from_version: number; at_seq: number } | null;
  /**
   * Set while a running execution has given its running slot back because it waits (src/engine/run/wake.ts
   * parkable): since when, and the lane it asks for one in again once something can move (null: not yet). It keeps
   * its concurrency key meanwhile: a key means one run at a time, waits included.
   */
  parked: { at: number; wanted: Lane | null } | null;
}

export interface ConversationTurn {
  id: string;
  seq: number;
}

export interface NodeRecord extends NodeState {
  kind: string;
  started_at: number | null;
  finished_at: number | null;
  wait_event: string | null;
  output: unknown;
  error_code: string | null;
  error_message: string | null;
  /** Seq of the last event about this node, for ordering D1 projections. */
  seq: number;
  /** Attempts made before the last redrive; the retry policy counts from here, and the Idempotency-Key changes. */
  attempt_base: number;
  /** Attempts since the last redrive that provider admission deferred: no call went out, the policy skips them. */
  deferrals: number;
  /** The rendered key of the node's result (definition `result.key`), set when it succeeded; null otherwise. */
  result_key: string | null;
  /** An llm node's rendered request, hashed when it succeeded: a fork reuses the answer to the same request. */
  request_hash: string | null;
}

export interface RunState {
  exec: ExecRecord;
  nodes: Map<string, NodeRecord>;
  /** The definition's nodes by id (derived from exec.definition). */
  defs: Map<string, NodeDef>;
  /** The seq of the last event in the log; the reducer numbers the next ones. */
  lastSeq: number;
  /**
   * `when` conditions the shell has evaluated for pending nodes, by node id: true, false, or the error message.
   * Memory only: a reloaded object evaluates them again, which gives the same answer (their needs have finished).
   */
  conditions: Map<string, Condition>;
  settings: RunSettings;
}

export interface RunSettings {
  /** How long after the first unprojected change the D1 projection is written. */
  projectionFlushMs: number;
}

/** A state for an execution and its nodes as loaded from storage. */
export function runState(
  exec: ExecRecord,
  nodes: Iterable<NodeRecord>,
  lastSeq: number,
  settings: RunSettings,
): RunState {
  return {
    exec,
    nodes: new Map([...nodes].map((n) => [n.id, n])),
    defs: new Map(exec.definition.nodes.map((n) => [n.id, n])),
    lastSeq,
    conditions: new Map(),
    settings,
  };
}

/** What starting an execution is given; the rest of its row starts empty. */
export type StartParams = Pick<
  ExecRecord,
  | "id"
  | "tenant_id"
  | "workflow_id"
  | "version"
  | "definition"
  | "input"
  | "trace_id"
  | "labels"
  | "parent_execution_id"
  | "parent_node_id"
  | "history_shard"
  | "lane"
> & {
  timeout_seconds: number;
  conversation?: ConversationTurn | null | undefined;
  /** A fork: where it comes from, and the nodes it starts with finished. */
  fork?: { info: ForkInfo; seeds: ForkSeed[] } | undefined;
};

/** A new, queued execution row. */
export function newExecution(p: StartParams, concurrencyKey: string | null, now: number): ExecRecord {
  return {
    id: p.id,
    tenant_id: p.tenant_id,
    workflow_id: p.workflow_id,
    version: p.version,
    definition: p.definition,
    input: p.input,
    status: "queued",
    output: null,
    error_code: null,
    error_message: null,
    created_at: now,
    started_at: null,
    finished_at: null,
    deadline_at: now + p.timeout_seconds * 1000,
    flush_due_at: null,
    flush_attempts: 0,
    concurrency_key: concurrencyKey,
    trace_id: p.trace_id,
    labels: p.labels,
    labels_projected: 0,
    parent_execution_id: p.parent_execution_id,
    parent_node_id: p.parent_node_id,
    parent_notified: 0,
    history_shard: p.history_shard,
    projected_seq: -1,
    conversation: p.conversation ?? null,
    lane: p.lane,
    fork: p.fork?.info ?? null,
    migrated: null,
    parked: null,
  };
}

export function nodeRecord(s: RunState, id: string): NodeRecord {
  const n = s.nodes.get(id);
  if (!n) throw new Error(`execution ${s.exec.id} has no node "${id}"`);
  return n;
}

export function nodeDef(s: RunState, id: string): NodeDef {
  const d = s.defs.get(id);
  if (!d) throw new Error(`execution ${s.exec.id} has no node "${id}" in its definition`);
  return d;
}

/** A node as a new execution stores it: pending, no attempt yet. */
export function pendingNode(id: string, kind: string): NodeRecord {
  return {
    id,
    kind,
    status: "pending",
    attempt: 0,
    due_at: null,
    started_at: null,
    finished_at: null,
    wait_event: null,
    output: null,
    error_code: null,
    error_message: null,
    seq: 0,
    attempt_base: 0,
    deferrals: 0,
    result_key: null,
    request_hash: null,
  };
}

/** What D1 does not have yet: the nodes changed since the last projection, and the seq a projection now covers. */
export function unprojected(s: RunState): { nodeIds: string[]; upTo: number; any: boolean } {
  const since = s.exec.projected_seq;
  const nodeIds = [...s.nodes.values()].filter((n) => n.seq > since).map((n) => n.id);
  return { nodeIds, upTo: s.lastSeq, any: nodeIds.length > 0 || s.lastSeq > since };
}
