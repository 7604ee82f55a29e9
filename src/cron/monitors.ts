import type { Db } from "../db/client";
import { claimDueMonitors, dueAlerts } from "../db/cron-repo";
import { checkerStub } from "../durable/client";
import { config } from "../env";
import { emailAlert, sendAlert } from "./alerts";
import { alertSchema } from "../engine/monitor";
import { inBatches } from "../lib/batches";
import { openWebhookSecret } from "../lib/secret-box";
import { CHECKS_IN_FLIGHT_PER_OBJECT, MAX_CHECK_MS } from "../services/monitor-check";

// A claimed monitor is leased for its longest possible check plus a margin; a crashed tick's lease just lapses.
const LEASE_MARGIN_MS = 30_000;

/**
 * Check every due monitor (up to MONITOR_CHECKS_PER_TICK), then send due alerts. The checks are spread over checker
 * objects, MONITOR_CHECKS_PER_OBJECT each, all at once: every object has its own subrequest and CPU budget, so a
 * tick is not bounded by one invocation's, and a slow target holds up only its own object's share.
 */
export async function runMonitors(
  env: Env,
  db: Db,
  now: number,
): Promise<{ checked: number; alerts_sent: number; failed: unknown[] }> {
  const cfg = config(env);
  // Leased for as long as the slowest object could take: its rounds of checks, each at most MAX_CHECK_MS.
  const rounds = Math.ceil(cfg.MONITOR_CHECKS_PER_OBJECT / CHECKS_IN_FLIGHT_PER_OBJECT);
  const claimed = await claimDueMonitors(db, now, rounds * MAX_CHECK_MS + LEASE_MARGIN_MS, cfg.MONITOR_CHECKS_PER_TICK);
  const groups = Array.from({ length: Math.ceil(claimed.length / cfg.MONITOR_CHECKS_PER_OBJECT) }, (_, i) =>
    claimed.slice(i * cfg.MONITOR_CHECKS_PER_OBJECT, (i + 1) * cfg.MONITOR_CHECKS_PER_OBJECT),
  );
  const checks = await Promise.allSettled(groups.map((group, i) => checkerStub(env, i).check(group, now)));
  const sent = await deliverAlerts(env, db, now);
  return {
    checked: checks.reduce((n, r) => n + (r.status === "fulfilled" ? r.value.checked : 0), 0),
    alerts_sent: sent.filter((r) => r.status === "fulfilled" && r.value).length,
    failed: [...checks, ...sent].flatMap((r) =>
      r.status === "rejected" ? [r.reason] : typeof r.value === "object" ? r.value.failed : [],
    ),
  };
}

/** Send due alerts: a Standard Webhook to the monitor's URL with its secret, or an email to its addresses. */
async function deliverAlerts(env: Env, db: Db, now: number): Promise<PromiseSettledResult<boolean>[]> {
  const due = await dueAlerts(db, now, 30);
  return inBatches(due, 6, ({ alert, target, secret, tenant_id }) => {
    const to = alertSchema.parse(target);
    if (alert.channel === "email") return emailAlert(env, db, alert, now, to.email ?? []);
    const url = to.webhook_url;
    const hook = url ? { url, secret: () => openWebhookSecret(env, tenant_id, alert.monitor_id, secret) } : null;
    return sendAlert(env, db, alert, now, hook);
  });
}
