// Circuit breaker state machine for LLM providers; the BreakerObject stores it, this decides.

export interface BreakerState {
  state: "closed" | "open" | "half_open";
  consecutive_failures: number;
  opened_at: number | null;
  probe_started_at: number | null;
}

export interface BreakerSettings {
  failure_threshold: number;
  cooldown_ms: number;
}

export const CLOSED: BreakerState = {
  state: "closed",
  consecutive_failures: 0,
  opened_at: null,
  probe_started_at: null,
};

/**
 * May a call go out now? Closed: yes. Open: no until the cool-down has passed, then one probe (half-open).
 * Half-open: no while the probe is out (a probe lost for a whole cool-down is replaced).
 */
export function admit(
  s: BreakerState,
  now: number,
  cfg: BreakerSettings,
): { allowed: boolean; next: BreakerState; retry_after_ms: number } {
  if (s.state === "closed") return { allowed: true, next: s, retry_after_ms: 0 };
  const since = s.state === "open" ? (s.opened_at ?? 0) : (s.probe_started_at ?? 0);
  if (now - since >= cfg.cooldown_ms)
    return { allowed: true, next: { ...s, state: "half_open", probe_started_at: now }, retry_after_ms: 0 };
  return { allowed: false, next: s, retry_after_ms: cfg.cooldown_ms - (now - since) };
}

/** Record a call's outcome: a success closes; failures open it at the threshold, or at once from half-open. */
export function recordOutcome(s: BreakerState, ok: boolean, now: number, cfg: BreakerSettings): BreakerState {
  if (ok) return CLOSED;
  const failures = s.consecutive_failures + 1;
  if (s.state === "half_open" || failures >= cfg.failure_threshold)
    return { state: "open", consecutive_failures: failures, opened_at: now, probe_started_at: null };
  return { ...s, consecutive_failures: failures };
}
