// Event types and the one envelope every transport carries; written by the ExecutionObject, read by routes and streams.
import { approvalNodeEvent } from "./approval";
import type { EventTypeName } from "./event-schema";

export const EXECUTION_STATUSES = [
  "queued",
  "running",
  "paused",
  "succeeded",
  "failed",
  "cancelled",
  "timed_out",
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const TERMINAL_EXECUTION: ReadonlySet<ExecutionStatus> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "timed_out",
]);

export const NODE_STATUSES = [
  "pending",
  "running",
  "retrying",
  "waiting",
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A map node's items, each of which runs like a node. */
export const ITEM_STATUSES = ["pending", "running", "retrying", "waiting", "succeeded", "failed", "cancelled"] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
export const TERMINAL_NODE: ReadonlySet<NodeStatus> = new Set(["succeeded", "failed", "skipped", "cancelled"]);

/** Every event type: the keys of the declared protocol (src/engine/event-schema.ts). */
export type EventType = EventTypeName;

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

/**
 * The event names an execution's `wait_for_event` nodes wait for (map items cannot be waits), and the approvals its
 * agent nodes wait for now, and each approval node's; or null when a wait_for_event node has a templated name not rendered yet: then any name
 * may still be the one it will wait for.
 */
export function eventNames(
  definition: { nodes: readonly { id: string; kind: string; config: Record<string, unknown> }[] },
  nodes: Iterable<{ id: string; status: string; wait_event: string | null }>,
): string[] | null {
  const rendered = new Map([...nodes].filter((n) => n.wait_event !== null).map((n) => [n.id, n.wait_event as string]));
  const names = new Set<string>();
  for (const n of definition.nodes.filter((x) => x.kind === "wait_for_event")) {
    const event = String(n.config.event);
    if (!event.includes("{{")) names.add(event);
    else if (rendered.has(n.id)) names.add(rendered.get(n.id) as string);
    else return null;
  }
  // An approval node's event is its own, known before it runs: a decision may come before the node waits.
  for (const n of definition.nodes.filter((x) => x.kind === "approval")) names.add(approvalNodeEvent(n.id));
  // An agent's approval is named for its step once it waits; before, and once decided, it is nobody's event.
  for (const n of definition.nodes.filter((x) => x.kind === "agent")) {
    const event = rendered.get(n.id);
    if (event && !event.startsWith("child:")) names.add(event);
  }
  return [...names].sort();
}
