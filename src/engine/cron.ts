// Cron expressions with time zones (croner, a maintained parser that runs in workerd); used by the
// schedule routes to validate and by the schedule tick to advance next_run_at.
import { Cron } from "croner";

/** A message naming what is wrong with the cron expression or time zone, or null when both are valid. */
export function checkCron(cron: string, timezone: string): string | null {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    return `unknown time zone "${timezone}"`;
  }
  try {
    const next = new Cron(cron, { timezone, paused: true }).nextRun(new Date(0));
    return next ? null : "the expression never fires";
  } catch (err) {
    return `invalid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The first time strictly after `after` (ms) that the schedule fires, or null if it never will again. */
export function nextRunAfter(cron: string, timezone: string, after: number): number | null {
  const next = new Cron(cron, { timezone, paused: true }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}
