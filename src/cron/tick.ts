import { openDb } from "../db/client";
import { config } from "../env";
import { log } from "../lib/log";
import { recordTick } from "../db/cron-repo";
import { runRetention, runWatchdog } from "./maintenance";
import { runApprovals } from "./approvals";
import { runModelChecks } from "./models";
import { runMonitors } from "./monitors";
import { runSchedules } from "./schedules";

/**
 * One cron tick at `now` (the trigger's scheduledTime). Each job is idempotent, so a retried or duplicated
 * tick is harmless. One job failing does not stop the others, but the tick reports it by throwing. Each tick records
 * its time (and how many jobs failed) for /health.
 */
export async function runTick(env: Env, now: number): Promise<Record<string, unknown>> {
  const cfg = config(env);
  const db = openDb(env.DB).db;
  const jobs = {
    schedules: () => runSchedules(env, db, now),
    monitors: () => runMonitors(env, db, now),
    watchdog: () => runWatchdog(env, db, now, cfg.WATCHDOG_STALL_SECONDS, cfg.WATCHDOG_GRACE_SECONDS),
    retention: () => runRetention(env, db, now, cfg.RETENTION_DAYS),
    models: () => runModelChecks(env, db, now),
    approvals: () => runApprovals(env, db, now),
  };
  const names = Object.keys(jobs) as (keyof typeof jobs)[];
  const settled = await Promise.allSettled(names.map((n) => jobs[n]()));
  const summary: Record<string, unknown> = {};
  const failures: string[] = [];
  settled.forEach((r, i) => {
    const name = names[i] as string;
    if (r.status === "rejected") failures.push(`${name}: ${String(r.reason)}`);
    else {
      const { failed, ...rest } = r.value as { failed: unknown[] };
      summary[name] = rest;
      for (const f of failed) failures.push(`${name}: ${f instanceof Error ? f.message : String(f)}`);
    }
  });
  // After the jobs: a tick that hangs never records itself, so /health sees a stuck clock as well as a dead one.
  await recordTick(db, now, failures.length);
  log(cfg.LOG_LEVEL, failures.length ? "error" : "info", "cron tick", {
    at: new Date(now).toISOString(),
    ...summary,
    failures,
  });
  if (failures.length) throw new Error(`cron tick had ${failures.length} failure(s): ${failures.join("; ")}`);
  return summary;
}
