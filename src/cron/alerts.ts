// Delivery of one alert as a Standard Webhook: the path monitor alerts and model.down / model.up alerts share.
// The signed timestamp is when the bytes leave (receivers reject stale or future ones), not the tick's time.
import { saveAlertAttempt, type AlertRow } from "../db/cron-repo";
import { alertRetryDelay } from "../engine/monitor";
import { allowedHosts, guardedFetch } from "../lib/ssrf";
import { childTraceparent, traceIdFrom } from "../lib/trace";
import { signWebhook } from "../lib/webhooks";

export const MAX_ALERT_ATTEMPTS = 10;

/** Send one alert; record sent_at (first attempt), attempts, delivered_at and the next attempt. True when delivered. */
export async function sendAlert(
  env: Env,
  db: Parameters<typeof saveAlertAttempt>[0],
  alert: AlertRow,
  now: number,
  to: { url: string; secret: () => Promise<string> },
): Promise<boolean> {
  const body = JSON.stringify(alert.payload);
  const attempts = alert.attempts + 1;
  let error: string | null = null;
  try {
    const headers = await signWebhook(await to.secret(), alert.id, Math.floor(Date.now() / 1000), body);
    const res = await guardedFetch(
      to.url,
      {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", traceparent: childTraceparent(traceIdFrom(null)) },
        body,
        signal: AbortSignal.timeout(10_000),
      },
      allowedHosts(env),
      0,
    );
    await res.body?.cancel();
    if (!res.ok) error = `HTTP ${res.status}`;
  } catch (err) {
    error = String(err);
  }
  await saveAlertAttempt(db, alert.id, {
    sent_at: alert.sent_at ?? now,
    attempts,
    delivered_at: error ? null : now,
    next_attempt_at: error && attempts < MAX_ALERT_ATTEMPTS ? now + alertRetryDelay(attempts) : null,
    last_error: error,
  });
  return error === null;
}
