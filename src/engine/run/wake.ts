// When an execution must act next: what its one alarm is set to, and what D1 is told for the watchdog.
import { TERMINAL_EXECUTION, TERMINAL_NODE } from "../events";
import { nextWake } from "../scheduler";
import type { ExecRecord, RunState } from "./state";

// While a drive is under way an alarm stays armed this far ahead, so a crash mid-run is picked up again.
export const LEASE_MS = 60_000;
// How often a queued execution asks again for its concurrency key, should the holder's wake-up be lost.
export const QUEUE_POLL_MS = 5_000;

/**
 * When this object will act next at the latest, as told to D1 for the watchdog: the lease alarm while work is under
 * way, the queue poll while queued, else the earliest timer or the deadline. Null once finished.
 */
export function expectedWake(s: RunState, now: number): number | null {
  const exec = s.exec;
  if (TERMINAL_EXECUTION.has(exec.status)) return null;
  if (exec.status === "queued") return now + QUEUE_POLL_MS;
  if (exec.status === "paused") return exec.deadline_at;
  if ([...s.nodes.values()].some((n) => n.status === "running" || n.status === "pending")) return now + LEASE_MS;
  return nextWake(s.nodes.values(), [exec.deadline_at]);
}

/** The alarm outside a drive: the earliest timer, deadline, projection retry, queue poll, or now if work waits. */
export function nextAlarm(s: RunState, now: number, subscriberRenewal: number | null): number | null {
  const exec = s.exec;
  const active = !TERMINAL_EXECUTION.has(exec.status);
  const running = exec.status === "running";
  // Work to do now: nodes to start or resume, or every node finished and the run still to be concluded.
  const nodes = [...s.nodes.values()];
  const hasWork =
    running &&
    (nodes.some((n) => n.status === "pending" || n.status === "running") ||
      nodes.every((n) => TERMINAL_NODE.has(n.status)));
  return nextWake(running ? nodes : [], [
    active ? exec.deadline_at : null,
    exec.flush_due_at,
    hasWork ? now : null,
    subscriberRenewal,
    exec.status === "queued" ? now + QUEUE_POLL_MS : null,
  ]);
}

/** A finished child still owes its parent the news; until that lands, the alarm keeps trying. */
export function owesParent(exec: ExecRecord): boolean {
  return exec.parent_execution_id !== null && !exec.parent_notified && TERMINAL_EXECUTION.has(exec.status);
}
