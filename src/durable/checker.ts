import { DurableObject } from "cloudflare:workers";
import { openDb } from "../db/client";
import type { MonitorRow } from "../db/cron-repo";
import { inBatches } from "../lib/batches";
import { checkOne, CHECKS_IN_FLIGHT_PER_OBJECT } from "../services/monitor-check";

/**
 * One of the objects a cron tick spreads its due monitor checks over (MONITOR_CHECKS_PER_OBJECT each): it runs
 * its share, records each check, and answers when all are done, so the tick still ends with every check recorded.
 */
export class CheckerObject extends DurableObject<Env> {
  async check(monitors: MonitorRow[], now: number): Promise<{ checked: number; failed: string[] }> {
    const db = openDb(this.env.DB).db;
    const done = await inBatches(monitors, CHECKS_IN_FLIGHT_PER_OBJECT, (m) => checkOne(this.env, db, m, now));
    return {
      checked: done.filter((r) => r.status === "fulfilled").length,
      failed: done.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : [])),
    };
  }
}
