// Crash points for the reliability suite: the boundaries where an ExecutionObject can die mid-step. No hook is
// installed outside tests, and then each point costs one null check and an already-resolved promise.

export type CrashPoint = "start.before" | "start.stored" | "attempt.returned" | "completion.stored";

export interface CrashSite {
  point: CrashPoint;
  execution_id: string;
  node_id?: string;
  attempt?: number;
}

type Hook = (site: CrashSite) => Promise<void> | void;

let hook: Hook | null = null;
const resolved = Promise.resolve();

/** Install (or remove, with null) the hook a test uses to hold an object at a crash point and crash it there. */
export function installCrashHook(h: Hook | null): void {
  hook = h;
}

export function crashPoint(site: CrashSite): Promise<void> {
  return hook ? Promise.resolve(hook(site)) : resolved;
}
