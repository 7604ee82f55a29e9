// Delivery of one alert, as a Standard Webhook (monitor alerts and model.down / model.up share it) or as email to a
// monitor's addresses. The signed timestamp is when the bytes leave (receivers reject stale or future ones), not the
// tick's time.
import { saveAlertAttempt, type AlertRow } from "../db/cron-repo";
import { alertRetryDelay } from "../engine/monitor";
import { EmailRefused, EmailUnconfigured } from "../lib/email";
import { sendMail } from "../lib/send-mail";
import { postWebhook } from "../lib/webhook-post";

export const MAX_ALERT_ATTEMPTS = 10;
type AlertDb = Parameters<typeof saveAlertAttempt>[0];

/** Send one alert; true when delivered. `to` null: the monitor no longer has this channel, so it is dropped. */
export async function sendAlert(
  env: Env,
  db: AlertDb,
  alert: AlertRow,
  now: number,
  to: { url: string; secret: () => Promise<string> } | null,
): Promise<boolean> {
  if (!to) return recordAttempt(db, alert, now, "the monitor no longer has a webhook_url", false);
  let error: string | null = null;
  try {
    await postWebhook(env, to.url, await to.secret(), alert.id, JSON.stringify(alert.payload));
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  return recordAttempt(db, alert, now, error, true);
}

/**
 * Email one monitor alert, one message per address, in one attempt. A failure retries the whole list, so after a
 * partial failure an address can get a second copy: its X-Edgeflow-Alert header is the same alert id, to dedupe on.
 */
export async function emailAlert(env: Env, db: AlertDb, alert: AlertRow, now: number, to: string[]): Promise<boolean> {
  if (!to.length) return recordAttempt(db, alert, now, "the monitor no longer has an email list", false);
  const p = alert.payload as AlertPayload;
  const name = p.monitor?.name ?? alert.monitor_id;
  const state = { down: "is down", unreachable: "cannot be reached", up: "is up again" }[alert.kind] ?? alert.kind;
  const text = [
    `Monitor "${name}" ${state}.`,
    "",
    `When: ${p.at ?? new Date(alert.created_at).toISOString()}`,
    ...(p.error ? [`What the check saw: ${p.error}`] : []),
    `Monitor: ${alert.monitor_id}`,
    `Alert: ${alert.id} (${p.type ?? alert.kind})`,
  ].join("\n");
  try {
    for (const addr of to)
      await sendMail(env, {
        to: addr,
        subject: `[Edgeflow] ${name} ${state}`,
        text,
        headers: { "X-Edgeflow-Alert": alert.id, "X-Edgeflow-Monitor": alert.monitor_id },
      });
  } catch (err) {
    const lasting = err instanceof EmailUnconfigured || err instanceof EmailRefused;
    return recordAttempt(db, alert, now, err instanceof Error ? err.message : String(err), !lasting);
  }
  return recordAttempt(db, alert, now, null, true);
}

interface AlertPayload {
  type?: string;
  at?: string;
  error?: string | null;
  monitor?: { name?: string };
}

/** Record sent_at (first attempt), attempts, delivered_at and the next attempt (none when `retry` is false). */
async function recordAttempt(
  db: AlertDb,
  alert: AlertRow,
  now: number,
  error: string | null,
  retry: boolean,
): Promise<boolean> {
  const attempts = alert.attempts + 1;
  await saveAlertAttempt(db, alert.id, {
    sent_at: alert.sent_at ?? now,
    attempts,
    delivered_at: error ? null : now,
    next_attempt_at: error && retry && attempts < MAX_ALERT_ATTEMPTS ? now + alertRetryDelay(attempts) : null,
    last_error: error,
  });
  return error === null;
}
