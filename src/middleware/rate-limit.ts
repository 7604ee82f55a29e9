import { endTime, startTime } from "hono/timing";
import { createMiddleware } from "hono/factory";
import { tenantStub } from "../durable/client";
import { config } from "../env";
import type { AppEnv } from "./context";
import { AppError } from "./errors";

/**
 * Per-API-key token bucket kept by the tenant's Durable Object, so every isolate counts against one bucket.
 * Every answer carries RateLimit-Limit/-Remaining/-Reset; over the limit: 429 problem+json with Retry-After.
 */
export function rateLimit() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const cfg = config(c.env);
    const perMinute = c.get("apiKeyRate") ?? cfg.RATE_LIMIT_PER_MINUTE;
    const burst = Math.min(cfg.RATE_LIMIT_BURST, perMinute);
    startTime(c, "rate");
    const d = await tenantStub(c.env, c.get("tenantId")).takeToken(c.get("apiKeyId"), perMinute, burst);
    endTime(c, "rate");
    const headers = {
      "ratelimit-limit": String(burst),
      "ratelimit-remaining": String(d.remaining),
      "ratelimit-reset": String(d.reset_seconds),
    };
    if (!d.allowed) {
      throw new AppError(
        429,
        "rate_limited",
        `This API key is limited to ${perMinute} requests a minute (bursts of ${burst}).`,
        {
          headers: { ...headers, "retry-after": String(d.retry_after_seconds) },
        },
      );
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  });
}
