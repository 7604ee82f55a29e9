// Monitor state transitions (thresholds) and alert cooldowns; called by the monitor tick after each check.
import { z } from "zod";

/** What a monitor checks: an http endpoint, or a workflow that must succeed. Shared by the API, the tick and create_monitor. */
export const httpCheck = z
  .object({
    kind: z.literal("http"),
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
    expect_status: z.number().int().min(100).max(599).optional(),
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
  })
  .strict();
export const workflowCheck = z
  .object({
    kind: z.literal("workflow"),
    workflow_id: z.string().min(1).max(64),
    input: z.unknown().optional(),
    timeout_ms: z.number().int().min(100).max(60_000).default(30_000),
  })
  .strict();
export const checkSchema = z.discriminatedUnion("kind", [httpCheck, workflowCheck]);
export const alertSchema = z
  .object({
    webhook_url: z.url({ protocol: /^https?$/ }),
    cooldown_seconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(3600),
  })
  .strict();

export type MonitorStatus = "unknown" | "up" | "down";

export interface MonitorState {
  status: MonitorStatus;
  consecutive_failures: number;
  consecutive_successes: number;
}

export interface Thresholds {
  failure_threshold: number;
  recovery_threshold: number;
}

/**
 * Apply one check result. A monitor goes down only after `failure_threshold` consecutive failures and comes
 * back up after `recovery_threshold` consecutive successes; `transition` names a change worth an alert.
 * From `unknown`, the first success is up (no alert) and reaching the failure threshold is down (alert).
 */
export function applyCheck(
  state: MonitorState,
  ok: boolean,
  t: Thresholds,
): MonitorState & { transition: "down" | "up" | null } {
  const failures = ok ? 0 : state.consecutive_failures + 1;
  const successes = ok ? state.consecutive_successes + 1 : 0;
  let status = state.status;
  let transition: "down" | "up" | null = null;
  if (!ok && status !== "down" && failures >= t.failure_threshold) {
    status = "down";
    transition = "down";
  } else if (ok && status === "down" && successes >= t.recovery_threshold) {
    status = "up";
    transition = "up";
  } else if (ok && status === "unknown") {
    status = "up";
  }
  return { status, consecutive_failures: failures, consecutive_successes: successes, transition };
}

/** An alert may go out when no earlier alert of this monitor was sent within the cooldown. */
export function cooldownAllows(lastSentAt: number | null, now: number, cooldownSeconds: number): boolean {
  return lastSentAt === null || now - lastSentAt >= cooldownSeconds * 1000;
}

/** Backoff between alert delivery attempts: 30 s doubling to an hour. */
export function alertRetryDelay(attempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, attempts - 1));
}
