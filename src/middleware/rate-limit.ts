import { endTime, startTime } from "hono/timing";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { tenantStub } from "../durable/client";
import type { TokenAsk, TokenDecision } from "../durable/tenant";
import { config } from "../env";
import type { AppEnv } from "./context";
import { AppError } from "./errors";

/**
 * Per-API-key token bucket kept by the tenant's Durable Object, so every isolate counts against one bucket.
 * Every answer carries RateLimit-Limit/-Remaining/-Reset; over the limit: 429 problem+json with Retry-After.
 */
export function rateLimit() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const ask = tokenAsk(c);
    startTime(c, "rate");
    const d = await tenantStub(c.env, c.get("tenantId")).takeToken(ask.keyId, ask.perMinute, ask.burst);
    endTime(c, "rate");
    const headers = rateHeaders(ask, d);
    await next();
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  });
}

/** The token this request asks of its key's bucket (a start asks it in its one TenantObject call). */
export function tokenAsk(c: Context<AppEnv>): TokenAsk {
  const cfg = config(c.env);
  const perMinute = c.get("apiKeyRate") ?? cfg.RATE_LIMIT_PER_MINUTE;
  return { keyId: c.get("apiKeyId"), perMinute, burst: Math.min(cfg.RATE_LIMIT_BURST, perMinute) };
}

/** The RateLimit-* headers of a decision; throws the 429 when it refused. */
export function rateHeaders(ask: TokenAsk, d: TokenDecision): Record<string, string> {
  const headers = {
    "ratelimit-limit": String(ask.burst),
    "ratelimit-remaining": String(d.remaining),
    "ratelimit-reset": String(d.reset_seconds),
  };
  if (!d.allowed) {
    throw new AppError(
      429,
      "rate_limited",
      `This API key is limited to ${ask.perMinute} requests a minute (bursts of ${ask.burst}).`,
      { headers: { ...headers, "retry-after": String(d.retry_after_seconds) } },
    );
  }
  return headers;
}
