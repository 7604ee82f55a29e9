// A `workflow` node (or map item) waits for its child execution as for an event with this name; one module owns the
// convention so the view, the shell and the executor agree on it.
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
