import type { Db } from "../db/client";
import {
  deleteExecutions,
  deleteExpiredMonitors,
  deleteOldHistory,
  expiredExecutions,
  stalledExecutions,
  tenantsFinishedSince,
} from "../db/maintenance-repo";
import { expiredConversations } from "../db/conversations-repo";
import { executionStub, tenantStub } from "../durable/client";
import { inBatches } from "../lib/batches";
import { eraseConversation } from "../services/conversations";
import { openDb } from "../db/client";
import { historyDatabases, MAIN_SHARD } from "../db/shards";

/** Every history database: `db` for the main one (the caller's handle), and each shard's. */
function historyDbs(env: Env, db: Db): Db[] {
  return historyDatabases(env).map((h) => (h.shard === MAIN_SHARD ? db : openDb(h.d1).db));
}

/**
 * Poke every unfinished execution that is past its deadline, overdue on the wake-up it announced (a lost alarm:
 * caught within two cron periods with the default grace of 60 s), or quiet in D1 for too long: the DO re-projects to
 * D1 and re-arms its alarm, so it times out, resumes, or lands a projection that never made it.
 */
export async function runWatchdog(
  env: Env,
  db: Db,
  now: number,
  stallSeconds: number,
  graceSeconds: number,
): Promise<{ poked: number; released: number; failed: unknown[] }> {
  const history = historyDbs(env, db);
  const stalled = (
    await Promise.all(history.map((h) => stalledExecutions(h, now, stallSeconds * 1000, graceSeconds * 1000, 100)))
  ).flat();
  for (const e of stalled) {
    console.warn(
      JSON.stringify({
        level: "warn",
        msg: "watchdog: execution looks stuck; poking it",
        execution_id: e.id,
        tenant_id: e.tenant_id,
        overdue_ms: e.wake_at === null ? null : now - e.wake_at,
        quiet_ms: now - e.projected_at,
      }),
    );
  }
  const results = await inBatches(stalled, 6, (e) => executionStub(env, e.id).poke());
  // A release lost between an execution's end and its TenantObject leaves a slot (or key) held: the tenants whose runs
  // ended lately have their stale leases checked, so the running count comes back even when nobody else asks.
  const tenants = [
    ...new Set((await Promise.all(history.map((h) => tenantsFinishedSince(h, now - 3 * 60_000, 50)))).flat()),
  ];
  const swept = await inBatches(tenants, 6, (t) => tenantStub(env, t).reconcile());
  const dropped = swept.reduce((n, r) => n + (r.status === "fulfilled" ? r.value.dropped : 0), 0);
  return {
    poked: stalled.length,
    released: dropped,
    failed: [...results, ...swept].flatMap((r) => (r.status === "rejected" ? [r.reason] : [])),
  };
}

/**
 * Delete executions past their retention (their workflow's `retention_days`, else RETENTION_DAYS), conversations idle
 * past theirs, and other history older than RETENTION_DAYS, in bounded batches: each execution's DO storage first,
 * then D1.
 */
export async function runRetention(
  env: Env,
  db: Db,
  now: number,
  days: number,
): Promise<{ executions: number; conversations: number; rows: number; monitors: number; failed: unknown[] }> {
  const before = now - days * 86_400_000;
  let executions = 0;
  const failed: unknown[] = [];
  for (const h of historyDbs(env, db)) {
    const ids = await expiredExecutions(h, now, before, 50);
    const purged = await inBatches(ids, 6, (id) => executionStub(env, id).purge());
    // Only executions whose DO storage is gone leave D1; the rest are retried next tick.
    const gone = ids.filter((_, i) => purged[i]?.status === "fulfilled");
    await deleteExecutions(h, gone);
    executions += gone.length;
    failed.push(...purged.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])));
  }
  let conversations = 0;
  for (const h of historyDbs(env, db)) {
    // A conversation with no message for its retain_days goes with every turn it ran, as DELETE erases it.
    const expired = await expiredConversations(h, now, 20);
    const erased = await inBatches(expired, 3, (c) => eraseConversation(env, h, c.tenant_id, c.id));
    conversations += erased.filter((r) => r.status === "fulfilled").length;
    failed.push(...erased.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])));
  }
  const rows = await deleteOldHistory(db, before, 500);
  const monitors = await deleteExpiredMonitors(db, now, 100);
  return { executions, conversations, rows, monitors, failed };
}
