// Crash points for the reliability suite: the boundaries where an ExecutionObject can die mid-step. No hook is
// installed outside tests, and then each point costs one null check and an already-resolved promise.

export type CrashPoint =
  "start.before" | "start.stored" | "alarm" | "attempt.returned" | "completion.stored" | "release.before";

export interface CrashSite {
  point: CrashPoint;
  execution_id: string;
  node_id?: string;
  attempt?: number;
}

type Hook = (site: CrashSite) => Promise<void> | void;

let hook: Hook | null = null;

/**
 * Thrown by a test hook to end the current handler at a boundary, as if the runtime stopped there before a graceful
 * eviction; unlike any other failure, it does not reset the object (eviction discards its memory anyway).
 */
export class PlannedStop extends Error {
  override readonly name = "PlannedStop";
}
const resolved = Promise.resolve();

/** Install (or remove, with null) the hook a test uses to hold an object at a crash point and crash it there. */
export function installCrashHook(h: Hook | null): void {
  hook = h;
}

export function crashPoint(site: CrashSite): Promise<void> {
  return hook ? Promise.resolve(hook(site)) : resolved;
}
