// When an execution must act next: what its one alarm is set to, and what D1 is told for the watchdog.
import { TERMINAL_EXECUTION } from "../events";
import { canMove, nextWake } from "../scheduler";
import type { ExecRecord, RunState } from "./state";

// While a drive is under way an alarm stays armed this far ahead, so a crash mid-run is picked up again.
export const LEASE_MS = 60_000;
// How often a queued execution asks again for its concurrency key, should the holder's wake-up be lost.
export const QUEUE_POLL_MS = 5_000;
// A run with nothing to do for at least this long gives its running slot back; a shorter wait (a quick retry) keeps
// it, since giving it back and asking again would cost more than the wait.
export const PARK_AFTER_MS = 5_000;

/** Asking for a running slot: queued from the start, or parked and woken (src/engine/run/step.ts). */
export function asksForSlot(exec: ExecRecord): boolean {
  return exec.status === "queued" || (exec.status === "running" && (exec.parked?.wanted ?? null) !== null);
}

/**
 * May the run give its running slot back? It runs, nothing of it can move now (every node left waits for a timer,
 * an event or a child, or for one that does), and its next timer is at least PARK_AFTER_MS away.
 */
export function parkable(s: RunState, now: number): boolean {
  const exec = s.exec;
  if (exec.status !== "running" || exec.parked !== null || canMove(exec.definition, s.nodes, now, s.defs)) return false;
  const due = nextWake(s.nodes.values(), []);
  return due === null || due - now >= PARK_AFTER_MS;
}

/**
 * When this object will act next at the latest, as told to D1 for the watchdog: the lease alarm while work is under
 * way, the queue poll while queued, else the earliest timer or the deadline. Null once finished.
 */
export function expectedWake(s: RunState, now: number): number | null {
  const exec = s.exec;
  if (TERMINAL_EXECUTION.has(exec.status)) return null;
  if (asksForSlot(exec)) return now + QUEUE_POLL_MS;
  if (exec.status === "paused") return exec.deadline_at;
  if (canMove(exec.definition, s.nodes, now, s.defs)) return now + LEASE_MS;
  return nextWake(s.nodes.values(), [exec.deadline_at]);
}

/** The alarm outside a drive: the earliest timer, deadline, projection retry, queue poll, or now if work waits. */
export function nextAlarm(s: RunState, now: number, subscriberRenewal: number | null): number | null {
  const exec = s.exec;
  const active = !TERMINAL_EXECUTION.has(exec.status);
  const running = exec.status === "running";
  // Work to do now: nodes to start or resume, or every node finished and the run still to be concluded. Nodes
  // pending behind a wait are not: the run sleeps until its timer or its event (an alarm "now" would spin).
  const asking = asksForSlot(exec);
  const hasWork = running && !asking && canMove(exec.definition, s.nodes, now, s.defs);
  // A run asking for its slot back waits for the answer (or its poll), not for timers already due.
  return nextWake(running && !asking ? s.nodes.values() : [], [
    active ? exec.deadline_at : null,
    exec.flush_due_at,
    hasWork ? now : null,
    subscriberRenewal,
    asking ? now + QUEUE_POLL_MS : null,
  ]);
}

/** A finished child still owes its parent the news; until that lands, the alarm keeps trying. */
export function owesParent(exec: ExecRecord): boolean {
  return exec.parent_execution_id !== null && !exec.parent_notified && TERMINAL_EXECUTION.has(exec.status);
}
