import type { Db } from "../db/client";
import { completeScheduleRun, dueSchedules, type ScheduleRow } from "../db/cron-repo";
import { snapshotOf } from "../durable/client";
import { startExecution } from "../services/start";
import { nextRunAfter } from "../engine/cron";
import { TERMINAL_EXECUTION } from "../engine/events";
import { inBatches } from "../lib/batches";

/**
 * Dispatch every due schedule once. Each run starts with the idempotency key schedule:<id>:<due time>, so a
 * duplicate or late tick never starts it twice; next_run_at advances in the batch that records the run.
 */
export async function runSchedules(
  env: Env,
  db: Db,
  now: number,
): Promise<{ started: number; skipped: number; failed: unknown[] }> {
  const due = await dueSchedules(db, now, 100);
  const results = await inBatches(due, 6, (s) => dispatch(env, db, s, now));
  return {
    started: results.filter((r) => r.status === "fulfilled" && r.value === "started").length,
    skipped: results.filter((r) => r.status === "fulfilled" && r.value === "skipped").length,
    failed: results.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])),
  };
}

async function dispatch(env: Env, db: Db, s: ScheduleRow, now: number): Promise<"started" | "skipped"> {
  const scheduledAt = s.next_run_at as number;
  // After downtime, resume from now rather than replaying every missed time.
  const next = nextRunAfter(s.cron, s.timezone, Math.max(now, scheduledAt));
  const record = (
    status: "started" | "skipped",
    executionId: string | null,
    reason: string | null,
    disable: string | null = null,
  ) =>
    completeScheduleRun(
      db,
      { schedule_id: s.id, scheduled_at: scheduledAt, status, execution_id: executionId, reason },
      next,
      now,
      disable,
    );

  if (s.overlap === "skip" && s.last_execution_id) {
    const previous = await snapshotOf(env, s.last_execution_id, s.tenant_id);
    if (previous && !TERMINAL_EXECUTION.has(previous.status)) {
      await record("skipped", null, `previous run ${previous.id} is still ${previous.status}`);
      return "skipped";
    }
  }
  const started = await startExecution(env, db, {
    tenantId: s.tenant_id,
    workflowId: s.workflow_id,
    input: s.input ?? null,
    idempotencyKey: `schedule:${s.id}:${scheduledAt}`,
    requestForHash: { schedule_id: s.id, scheduled_at: scheduledAt },
  });
  if (started.ok) {
    await record("started", started.id, null);
    return "started";
  }
  // Anything retryable (D1, the DO) is thrown: next_run_at stays, and the next tick retries this due time.
  if (started.retryable) throw new Error(`schedule ${s.id}: ${started.code}: ${started.message}`);
  // A deleted workflow or input that no longer fits will not heal by retrying: record why and move on; a workflow
  // deleted before deletes switched its schedules off is switched off now, once.
  const reason = `${started.code}: ${started.message}`;
  await record("skipped", null, reason, started.code === "workflow_not_found" ? reason : null);
  return "skipped";
}
