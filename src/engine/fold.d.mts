// Types of src/engine/fold.mjs (the one fold of the event log).
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

export declare const blankNode: NodeState;
export declare function emptyRun(nodeIds: readonly string[]): RunState;
/** A node's state after one of its events. */
export declare function nodeAfter(n: NodeState, e: FoldEvent): NodeState;
/** One event applied to the run (a new object; the old one is what the scrubber may still show). */
export declare function applyEvent(run: RunState, e: FoldEvent): RunState;
/** The run after every event with seq <= upTo (all of them when upTo is omitted). */
export declare function replay(nodeIds: readonly string[], events: readonly FoldEvent[], upTo?: number): RunState;
