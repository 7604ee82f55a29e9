// A `workflow` node (or map item) waits for its child execution as for an event with this name; one module owns the
// convention so the view, the shell and the executor agree on it.
import type { ChildEnd, RunResult } from "./run/messages";

const PREFIX = "child:";

export function childEvent(executionId: string): string {
  return `${PREFIX}${executionId}`;
}

/** What the shell stores for a node or map item that waits for its child: an untimed wait for the child's event. */
export function childWait(executionId: string): { until: null; event: string } {
  return { until: null, event: childEvent(executionId) };
}

/** A SQL LIKE pattern matching the wait events of child waits. */
export const CHILD_EVENT_LIKE = `${PREFIX}%`;

/** The child execution id a wait names, or null when the wait is for an ordinary event. */
export function childIdOf(event: string | null | undefined): string | null {
  return event?.startsWith(PREFIX) ? event.slice(PREFIX.length) : null;
}

/** What a child execution's end means for the attempt that waited for it: its output, or a failed attempt. */
export function childOutcome(childId: string, child: ChildEnd): RunResult {
  if (child.status === "succeeded")
    return { ok: true, output: { execution_id: childId, output: child.output ?? null } };
  const message = `child execution ${childId} ${child.status}${child.error ? `: ${child.error.message}` : ""}`;
  return { ok: false, error: { code: `child_${child.status}`, message, retryable: child.status !== "cancelled" } };
}
