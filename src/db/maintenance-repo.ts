// The D1 queries of the watchdog and retention (src/cron/maintenance.ts) and of erasure (src/services/erase.ts).
import { and, asc, gt, inArray, isNull, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { Db } from "./client";
import {
  alerts,
  createRequests,
  executionMetadata,
  executionTags,
  executions,
  idempotencyKeys,
  monitorChecks,
  monitors,
  nodeRuns,
  results,
  scheduleRuns,
} from "./schema";

/**
 * Unfinished executions that look stuck: past their deadline, past the time they said they would act next by more
 * than `graceMs` (a lost alarm), or silent in D1 for `stallMs`. Most overdue first.
 */
export async function stalledExecutions(db: Db, now: number, stallMs: number, graceMs: number, limit: number) {
  return db
    .select({
      id: executions.id,
      tenant_id: executions.tenant_id,
      wake_at: executions.wake_at,
      projected_at: executions.projected_at,
    })
    .from(executions)
    .where(
      and(
        inArray(executions.status, ["queued", "running", "paused"]),
        or(
          lte(executions.deadline_at, now),
          lte(executions.wake_at, now - graceMs),
          lte(executions.projected_at, now - stallMs),
        ),
      ),
    )
    .orderBy(asc(sql`coalesce(${executions.wake_at}, ${executions.projected_at})`))
    .limit(limit);
}

/** Monitors past their expires_at go, with their checks and alerts; returns how many monitors went. */
export async function deleteExpiredMonitors(db: Db, now: number, limit: number): Promise<number> {
  const expired = (
    await db.select({ id: monitors.id }).from(monitors).where(lt(monitors.expires_at, now)).limit(limit)
  ).map((r) => r.id);
  if (expired.length === 0) return 0;
  await db.batch([
    db.delete(monitorChecks).where(inArray(monitorChecks.monitor_id, expired)),
    db.delete(alerts).where(inArray(alerts.monitor_id, expired)),
    db.delete(monitors).where(inArray(monitors.id, expired)),
  ]);
  return expired.length;
}

/** Tenants whose executions finished since `since`: where a lost release may have left a slot held. */
export async function tenantsFinishedSince(db: Db, since: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectDistinct({ tenant_id: executions.tenant_id })
    .from(executions)
    .where(gt(executions.finished_at, since))
    .limit(limit);
  return rows.map((r) => r.tenant_id);
}

/** Finished executions past their retention: their workflow's `retention_days`, or else finished before `before`. */
export async function expiredExecutions(db: Db, now: number, before: number, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: executions.id })
    .from(executions)
    .where(
      or(and(isNull(executions.retain_until), lt(executions.finished_at, before)), lt(executions.retain_until, now)),
    )
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Every D1 row of these executions, in one batch (LLM usage stays: it is the tenant's bill and holds no content). */
export async function deleteExecutions(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.batch([
    db.delete(nodeRuns).where(inArray(nodeRuns.execution_id, ids)),
    db.delete(executionTags).where(inArray(executionTags.execution_id, ids)),
    db.delete(executionMetadata).where(inArray(executionMetadata.execution_id, ids)),
    db.delete(results).where(inArray(results.execution_id, ids)),
    db.delete(idempotencyKeys).where(inArray(idempotencyKeys.execution_id, ids)),
    db.delete(executions).where(inArray(executions.id, ids)),
  ]);
}

/** An execution of the tenant's (if D1 has it) and every execution started under it, in one recursive query. */
export async function executionFamily(db: Db, tenantId: string, id: string, limit = 1000): Promise<string[]> {
  const rows = await db.all<{ id: string }>(sql`
    with recursive family(id, depth) as (
      select ${executions.id}, 0 from ${executions} where ${executions.id} = ${id} and ${executions.tenant_id} = ${tenantId}
      union all
      select e.id, family.depth + 1 from ${executions} e join family on e.parent_execution_id = family.id
      where e.tenant_id = ${tenantId} and family.depth < 32
    )
    select id from family limit ${limit}`);
  return rows.map((r) => r.id);
}

/** Delete up to `limit` rows older than `before` from each history table; returns how many went. */
export async function deleteOldHistory(db: Db, before: number, limit: number): Promise<number> {
  // rowid subqueries bound each delete, so one tick never holds D1's single writer for long.
  const bounded = (
    table: typeof monitorChecks | typeof scheduleRuns | typeof alerts | typeof idempotencyKeys | typeof createRequests,
    cond: SQL,
  ) => sql`rowid in (select rowid from ${table} where ${cond} limit ${limit})`;
  const results = await db.batch([
    db
      .delete(monitorChecks)
      .where(bounded(monitorChecks, lt(monitorChecks.at, before) as SQL))
      .returning({ id: monitorChecks.id }),
    db
      .delete(scheduleRuns)
      .where(bounded(scheduleRuns, lt(scheduleRuns.created_at, before) as SQL))
      .returning({ id: scheduleRuns.schedule_id }),
    db
      .delete(alerts)
      .where(bounded(alerts, sql`${alerts.created_at} < ${before} and ${alerts.delivered_at} is not null`))
      .returning({ id: alerts.id }),
    db
      .delete(idempotencyKeys)
      .where(bounded(idempotencyKeys, lt(idempotencyKeys.created_at, before) as SQL))
      .returning({ id: idempotencyKeys.key }),
    db
      .delete(createRequests)
      .where(bounded(createRequests, lt(createRequests.created_at, before) as SQL))
      .returning({ id: createRequests.key }),
  ]);
  return results.reduce((n, r) => n + r.length, 0);
}
