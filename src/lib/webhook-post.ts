// One signed webhook delivery (Standard Webhooks, src/lib/webhooks.ts) through the SSRF guard: what monitor alerts,
// model alerts and approval notices all send. The signed timestamp is when the bytes leave, not the tick's time.
import { allowedHosts, guardedFetch } from "./ssrf";
import { childTraceparent, traceIdFrom } from "./trace";
import { signWebhook } from "./webhooks";

/** POST `body` signed with `secret` under message id `id`; throws with the status when the receiver refuses it. */
export async function postWebhook(env: Env, url: string, secret: string, id: string, body: string): Promise<void> {
  const headers = await signWebhook(secret, id, Math.floor(Date.now() / 1000), body);
  const res = await guardedFetch(
    url,
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
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}
