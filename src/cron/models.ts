// The cron's model check: every MODEL_CHECK_MINUTES each configured LLM tier answers one tiny prompt. The result is
// kept for /health (which never calls a model itself); a tier that goes down or comes back raises model.down /
// model.up to MODEL_ALERT_WEBHOOK_URL, signed and retried like monitor alerts.
import type { Db } from "../db/client";
import {
  dueModelAlerts,
  modelAlertOwner,
  modelCheckRows,
  recordModelCheck,
  type ModelCheckRow,
} from "../db/model-checks-repo";
import type { AlertRow } from "../db/cron-repo";
import { config } from "../env";
import { inBatches } from "../lib/batches";
import { newId } from "../lib/ids";
import { probeTiers, type ProbeResult } from "../services/model-probe";
import { sendAlert } from "./alerts";

// A tick that lands a little early still counts as the interval's (ticks drift by seconds).
const SLACK_MS = 5_000;

export async function runModelChecks(
  env: Env,
  db: Db,
  now: number,
): Promise<{ checked: number; alerts_sent: number; failed: unknown[] }> {
  const minutes = config(env).MODEL_CHECK_MINUTES;
  const previous = new Map((await modelCheckRows(db)).map((r) => [r.tier, r]));
  const last = Math.max(0, ...[...previous.values()].map((r) => r.checked_at));
  let checked = 0;
  const failed: unknown[] = [];
  if (minutes > 0 && now - last >= minutes * 60_000 - SLACK_MS) {
    const results = (await probeTiers(env)).filter((r) => r.configured);
    const saved = await Promise.allSettled(results.map((r) => record(env, db, r, previous.get(r.tier), now)));
    checked = results.length;
    failed.push(...saved.flatMap((s) => (s.status === "rejected" ? [s.reason] : [])));
  }
  const sent = await deliverModelAlerts(env, db, now);
  return {
    checked,
    alerts_sent: sent.filter((r) => r.status === "fulfilled" && r.value).length,
    failed: [...failed, ...sent.flatMap((r) => (r.status === "rejected" ? [r.reason] : []))],
  };
}

async function record(env: Env, db: Db, r: ProbeResult, before: ModelCheckRow | undefined, now: number) {
  const changed = !before || before.ok !== r.ok;
  const row: ModelCheckRow = {
    tier: r.tier,
    provider: r.provider ?? "",
    model: r.model ?? "",
    ok: r.ok,
    error: r.error,
    latency_ms: r.latency_ms ?? 0,
    checked_at: now,
    since: changed ? now : before.since,
  };
  // A first check that passes is no news; a first check that fails is.
  const news = changed && (before !== undefined || !r.ok);
  const alert = news && alertTarget(env) ? alertOf(row, before) : null;
  await recordModelCheck(db, row, alert);
}

function alertOf(row: ModelCheckRow, before: ModelCheckRow | undefined): AlertRow {
  const kind = row.ok ? "up" : "down";
  return {
    id: newId("msg"),
    monitor_id: modelAlertOwner(row.tier),
    kind,
    channel: "webhook",
    payload: {
      type: `model.${kind}`,
      tier: row.tier,
      provider: row.provider,
      model: row.model,
      at: new Date(row.checked_at).toISOString(),
      error: row.error,
      ...(before ? { down_since: row.ok ? new Date(before.since).toISOString() : null } : {}),
    },
    created_at: row.checked_at,
    sent_at: null,
    attempts: 0,
    delivered_at: null,
    next_attempt_at: row.checked_at,
    last_error: null,
  };
}

/** Where model alerts go: MODEL_ALERT_WEBHOOK_URL, signed with the secret MODEL_ALERT_WEBHOOK_SECRET (whsec_…). */
function alertTarget(env: Env): { url: string; secret: string } | null {
  const vars = env as unknown as { MODEL_ALERT_WEBHOOK_URL?: string; MODEL_ALERT_WEBHOOK_SECRET?: string };
  const url = vars.MODEL_ALERT_WEBHOOK_URL?.trim();
  const secret = vars.MODEL_ALERT_WEBHOOK_SECRET?.trim();
  return url && secret ? { url, secret } : null;
}

async function deliverModelAlerts(env: Env, db: Db, now: number): Promise<PromiseSettledResult<boolean>[]> {
  const target = alertTarget(env);
  if (!target) return [];
  const due = await dueModelAlerts(db, now, 30);
  return inBatches(due, 6, (alert) =>
    sendAlert(env, db, alert, now, { url: target.url, secret: async () => target.secret }),
  );
}
