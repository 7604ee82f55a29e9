// The D1 queries of the LLM tier checks: each tier's last check, and the model.down / model.up alerts, which are
// rows of the monitors' alerts table under a monitor id of their own ("model:<tier>").
import { and, asc, eq, isNull, like, lte } from "drizzle-orm";
import type { Db } from "./client";
import type { AlertRow } from "./cron-repo";
import { alerts, modelChecks } from "./schema";

export type ModelCheckRow = typeof modelChecks.$inferSelect;

/** The monitor id model alerts are filed under. */
export const modelAlertOwner = (tier: string) => `model:${tier}`;

export async function modelCheckRows(db: Db): Promise<ModelCheckRow[]> {
  return db.select().from(modelChecks).orderBy(asc(modelChecks.tier));
}

/** Store a tier's check and (on a change of state, when alerts are configured) its alert, in one batch. */
export async function recordModelCheck(db: Db, row: ModelCheckRow, alert: AlertRow | null): Promise<void> {
  const upsert = db.insert(modelChecks).values(row).onConflictDoUpdate({ target: modelChecks.tier, set: row });
  if (alert) await db.batch([upsert, db.insert(alerts).values(alert)]);
  else await upsert;
}

/** Undelivered model alerts whose next attempt is due. */
export async function dueModelAlerts(db: Db, now: number, limit: number): Promise<AlertRow[]> {
  return db
    .select()
    .from(alerts)
    .where(and(like(alerts.monitor_id, "model:%"), isNull(alerts.delivered_at), lte(alerts.next_attempt_at, now)))
    .orderBy(asc(alerts.next_attempt_at))
    .limit(limit);
}

export async function modelAlerts(db: Db, tier: string): Promise<AlertRow[]> {
  return db
    .select()
    .from(alerts)
    .where(eq(alerts.monitor_id, modelAlertOwner(tier)))
    .orderBy(asc(alerts.created_at));
}
