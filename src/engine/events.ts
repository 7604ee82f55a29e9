// Event types and the one envelope every transport carries; written by the ExecutionObject, read by routes and streams.

export const EXECUTION_STATUSES = ["queued", "running", "paused", "succeeded", "failed", "cancelled", "timed_out"] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const TERMINAL_EXECUTION: ReadonlySet<ExecutionStatus> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export const NODE_STATUSES = [
  "pending", "running", "retrying", "waiting", "succeeded", "failed", "skipped", "cancelled",
] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
export const TERMINAL_NODE: ReadonlySet<NodeStatus> = new Set(["succeeded", "failed", "skipped", "cancelled"]);

export type EventType =
  | "execution.queued"
  | "execution.started"
  | "execution.succeeded"
  | "execution.failed"
  | "execution.cancelled"
  | "execution.timed_out"
  | "execution.paused"
  | "execution.resumed"
  | "execution.redriven"
  | "node.started"
  | "node.retrying"
  | "node.succeeded"
  | "node.failed"
  | "node.skipped"
  | "node.waiting"
  | "node.cancelled"
  | "node.progress"
  | "event.received";

/** The envelope on every transport: `seq` is per execution, strictly increasing, without gaps. */
export interface EventEnvelope {
  seq: number;
  type: EventType;
  execution_id: string;
  node_id?: string;
  attempt?: number;
  at: string;
  data: Record<string, unknown>;
}

export function executionEventType(status: ExecutionStatus): EventType {
  return `execution.${status}` as EventType;
}
