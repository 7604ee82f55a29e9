// The D1 queries of the cron side (schedules, monitors, alerts, the clock), kept beside repo.ts.
import { and, asc, desc, eq, gt, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Db } from "./client";
import { alerts, cronState, monitorChecks, monitors, scheduleRuns, schedules, workflows } from "./schema";

export type ScheduleRow = typeof schedules.$inferSelect;
export type MonitorRow = typeof monitors.$inferSelect;
export type AlertRow = typeof alerts.$inferSelect;

// ---- schedules

/** False when a schedule with this id exists already (an Idempotency-Key replay taking over). */
export async function insertSchedule(db: Db, row: ScheduleRow): Promise<boolean> {
  return (await db.insert(schedules).values(row).onConflictDoNothing().returning({ id: schedules.id })).length > 0;
}

/** A workflow's schedules, or null when the tenant has no such workflow (one query: the workflow left-joined). */
export async function listSchedules(db: Db, tenantId: string, workflowId: string): Promise<ScheduleRow[] | null> {
  const rows = await db
    .select({ workflow: workflows.id, schedule: schedules })
    .from(workflows)
    .leftJoin(schedules, and(eq(schedules.workflow_id, workflows.id), eq(schedules.tenant_id, tenantId)))
    .where(and(eq(workflows.id, workflowId), eq(workflows.tenant_id, tenantId), isNull(workflows.deleted_at)))
    .orderBy(desc(schedules.created_at));
  if (rows.length === 0) return null;
  return rows.flatMap((r) => (r.schedule ? [r.schedule] : []));
}

/** Every schedule of the tenant's live workflows, newest first (the dashboard's schedules page): one query. */
export async function listTenantSchedules(db: Db, tenantId: string): Promise<ScheduleRow[]> {
  const rows = await db
    .select({ schedule: schedules })
    .from(schedules)
    .innerJoin(workflows, and(eq(workflows.id, schedules.workflow_id), eq(workflows.tenant_id, tenantId)))
    .where(and(eq(schedules.tenant_id, tenantId), isNull(workflows.deleted_at)))
    .orderBy(desc(schedules.created_at))
    .limit(500);
  return rows.map((r) => r.schedule);
}

export async function getSchedule(db: Db, tenantId: string, id: string) {
  const [row] = await db
    .select()
    .from(schedules)
    .where(and(eq(schedules.id, id), eq(schedules.tenant_id, tenantId)));
  return row ?? null;
}

export async function updateSchedule(db: Db, tenantId: string, id: string, patch: Partial<ScheduleRow>) {
  const [row] = await db
    .update(schedules)
    .set(patch)
    .where(and(eq(schedules.id, id), eq(schedules.tenant_id, tenantId)))
    .returning();
  return row ?? null;
}

export async function deleteSchedule(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(schedules)
    .where(and(eq(schedules.id, id), eq(schedules.tenant_id, tenantId)))
    .returning({ id: schedules.id });
  return rows.length > 0;
}

export async function listScheduleRuns(db: Db, scheduleId: string, limit: number) {
  return db
    .select()
    .from(scheduleRuns)
    .where(eq(scheduleRuns.schedule_id, scheduleId))
    .orderBy(desc(scheduleRuns.scheduled_at))
    .limit(limit);
}

/** Every enabled schedule due at `now`, oldest due first: one indexed query (schedules_due). */
export async function dueSchedules(db: Db, now: number, limit: number) {
  return db
    .select()
    .from(schedules)
    .where(and(eq(schedules.enabled, true), lte(schedules.next_run_at, now)))
    .orderBy(asc(schedules.next_run_at))
    .limit(limit);
}

/**
 * Record what happened at one due time and advance the schedule, in one batch. The advance only applies
 * while next_run_at still equals that due time, so a duplicate or late tick changes nothing.
 */
export async function completeScheduleRun(
  db: Db,
  run: {
    schedule_id: string;
    scheduled_at: number;
    status: "started" | "skipped";
    execution_id: string | null;
    reason: string | null;
  },
  nextRunAt: number | null,
  now: number,
  /** Switch the schedule off with this reason (its workflow is gone): it would only be skipped every time. */
  disable: string | null = null,
): Promise<void> {
  await db.batch([
    db
      .insert(scheduleRuns)
      .values({ ...run, created_at: now })
      .onConflictDoNothing({ target: [scheduleRuns.schedule_id, scheduleRuns.scheduled_at] }),
    db
      .update(schedules)
      .set({
        next_run_at: nextRunAt,
        last_run_at: run.scheduled_at,
        ...(run.execution_id ? { last_execution_id: run.execution_id } : {}),
        ...(disable ? { enabled: false, disabled_reason: disable } : {}),
        updated_at: now,
      })
      .where(and(eq(schedules.id, run.schedule_id), eq(schedules.next_run_at, run.scheduled_at))),
  ]);
}

// ---- monitors

/** False when a monitor with this id exists already (an Idempotency-Key replay taking over). */
export async function insertMonitor(db: Db, row: MonitorRow): Promise<boolean> {
  return (await db.insert(monitors).values(row).onConflictDoNothing().returning({ id: monitors.id })).length > 0;
}

/** Insert unless a monitor with this id exists (an action re-run with the same key); returns the stored row. */
/** The tenant's monitor on the check with this hash, if any. */
export async function findMonitorByCheck(db: Db, tenantId: string, checkHash: string): Promise<MonitorRow | null> {
  const [row] = await db
    .select()
    .from(monitors)
    .where(and(eq(monitors.tenant_id, tenantId), eq(monitors.check_hash, checkHash)));
  return row ?? null;
}

export async function listMonitors(db: Db, tenantId: string) {
  return db
    .select()
    .from(monitors)
    .where(eq(monitors.tenant_id, tenantId))
    .orderBy(desc(monitors.created_at), desc(monitors.id))
    .limit(1000);
}

export async function getMonitor(db: Db, tenantId: string, id: string) {
  const [row] = await db
    .select()
    .from(monitors)
    .where(and(eq(monitors.id, id), eq(monitors.tenant_id, tenantId)));
  return row ?? null;
}

export async function updateMonitor(db: Db, tenantId: string, id: string, patch: Partial<MonitorRow>) {
  const [row] = await db
    .update(monitors)
    .set(patch)
    .where(and(eq(monitors.id, id), eq(monitors.tenant_id, tenantId)))
    .returning();
  return row ?? null;
}

export async function deleteMonitor(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(monitors)
    .where(and(eq(monitors.id, id), eq(monitors.tenant_id, tenantId)))
    .returning({ id: monitors.id });
  return rows.length > 0;
}

/**
 * Claim due monitors: next_check_at advances and a lease is taken in the same statement, before any check
 * runs, so a check that crashes cannot freeze its monitor and two ticks never check one monitor at once.
 */
export async function claimDueMonitors(db: Db, now: number, leaseMs: number, limit: number): Promise<MonitorRow[]> {
  const due = db
    .select({ id: monitors.id })
    .from(monitors)
    .where(
      and(
        eq(monitors.enabled, true),
        lte(monitors.next_check_at, now),
        or(isNull(monitors.expires_at), gt(monitors.expires_at, now)),
        or(isNull(monitors.checking_until), lte(monitors.checking_until, now)),
      ),
    )
    .orderBy(asc(monitors.next_check_at))
    .limit(limit);
  return db
    .update(monitors)
    .set({ next_check_at: sql`${now} + ${monitors.interval_seconds} * 1000`, checking_until: now + leaseMs })
    .where(inArray(monitors.id, due))
    .returning();
}

/** The latest alert time of a monitor, as the sender records it (sent_at), or its creation while unsent. */
/** When the last alert of this kind (down or recovered) went out: cooldowns count per kind. */
export async function lastAlertAt(db: Db, monitorId: string, kind: string): Promise<number | null> {
  const [row] = await db
    .select({ at: sql<number | null>`max(coalesce(${alerts.sent_at}, ${alerts.created_at}))` })
    .from(alerts)
    .where(and(eq(alerts.monitor_id, monitorId), eq(alerts.kind, kind)));
  return row?.at ?? null;
}

/** Store a check result, the monitor's new state and (when due) its alerts, one per channel, in one batch. */
export async function recordCheck(
  db: Db,
  check: typeof monitorChecks.$inferInsert,
  state: Pick<MonitorRow, "status" | "consecutive_failures" | "consecutive_successes" | "consecutive_unreachable">,
  newAlerts: AlertRow[],
): Promise<void> {
  const statements = [
    db.insert(monitorChecks).values(check),
    db
      .update(monitors)
      .set({ ...state, last_checked_at: check.at, checking_until: null, updated_at: check.at })
      .where(eq(monitors.id, check.monitor_id)),
  ];
  if (newAlerts.length) statements.push(db.insert(alerts).values(newAlerts) as never);
  await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

/** Move a monitor's acknowledgement run from `from` to `to` (null: none), unless someone moved it first. */
export async function setAckExecution(db: Db, id: string, from: string | null, to: string | null): Promise<void> {
  await db
    .update(monitors)
    .set({ ack_execution_id: to })
    .where(
      and(eq(monitors.id, id), from === null ? isNull(monitors.ack_execution_id) : eq(monitors.ack_execution_id, from)),
    );
}

export async function listChecks(db: Db, monitorId: string, limit: number) {
  return db
    .select()
    .from(monitorChecks)
    .where(eq(monitorChecks.monitor_id, monitorId))
    .orderBy(desc(monitorChecks.at))
    .limit(limit);
}

export async function listAlerts(db: Db, monitorId: string, limit: number) {
  return db.select().from(alerts).where(eq(alerts.monitor_id, monitorId)).orderBy(desc(alerts.created_at)).limit(limit);
}

/** Undelivered alerts whose next attempt is due, with what is needed to send them, in one query. */
export async function dueAlerts(db: Db, now: number, limit: number) {
  return db
    .select({ alert: alerts, target: monitors.alert, secret: monitors.secret, tenant_id: monitors.tenant_id })
    .from(alerts)
    .innerJoin(monitors, eq(monitors.id, alerts.monitor_id))
    .where(and(isNull(alerts.delivered_at), lte(alerts.next_attempt_at, now)))
    .orderBy(asc(alerts.next_attempt_at))
    .limit(limit);
}

export async function saveAlertAttempt(
  db: Db,
  id: string,
  patch: Pick<AlertRow, "sent_at" | "attempts" | "delivered_at" | "next_attempt_at" | "last_error">,
) {
  await db.update(alerts).set(patch).where(eq(alerts.id, id));
}

// ---- the clock itself

export type CronState = { installed_at: number; last_tick_at: number | null; last_tick_failures: number };

/** Record a tick; a retried or late tick for an earlier minute never moves the clock back. */
export async function recordTick(db: Db, at: number, failures: number): Promise<void> {
  await db
    .insert(cronState)
    .values({ id: "tick", installed_at: at, last_tick_at: at, last_tick_failures: failures })
    .onConflictDoUpdate({
      target: cronState.id,
      set: {
        last_tick_failures: sql`case when ${cronState.last_tick_at} is null or ${cronState.last_tick_at} <= ${at} then ${failures} else ${cronState.last_tick_failures} end`,
        last_tick_at: sql`max(coalesce(${cronState.last_tick_at}, 0), ${at})`,
      },
    });
}

/** The clock's state; a database that lost the row starts its grace period now rather than answering nothing. */
export async function cronClock(db: Db, now: number): Promise<CronState> {
  const [row] = await db.select().from(cronState).where(eq(cronState.id, "tick"));
  if (row) return row;
  await db.insert(cronState).values({ id: "tick", installed_at: now }).onConflictDoNothing();
  return { installed_at: now, last_tick_at: null, last_tick_failures: 0 };
}
