import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { originListed } from "../db/repo";
import type { AppEnv } from "./context";
import { AppError } from "./errors";

const ALLOW_HEADERS = "authorization, content-type, idempotency-key, traceparent, last-event-id, x-request-id";
const EXPOSE_HEADERS =
  "x-request-id, location, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, idempotent-replayed";

/** OPTIONS preflight for /v1: allowed when some tenant lists the origin (the real request is checked per tenant). */
export async function preflight(c: Context<AppEnv>): Promise<Response> {
  const origin = c.req.header("origin");
  if (!origin || !(await originListed(c.get("db").db, origin))) {
    throw new AppError(403, "origin_not_allowed", "This origin is not allowed; add it with PUT /v1/cors.");
  }
  return c.body(null, 204, {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE",
    "access-control-allow-headers": ALLOW_HEADERS,
    "access-control-max-age": "600",
    vary: "Origin",
  });
}

/** After auth: expose the response to the browser only when the caller's tenant lists its origin. */
export function corsForTenant() {
  return createMiddleware<AppEnv>(async (c, next) => {
    await next();
    const origin = c.req.header("origin");
    if (!origin) return;
    c.res.headers.append("vary", "Origin");
    if (await originListed(c.get("db").db, origin, c.get("tenantId"))) {
      c.res.headers.set("access-control-allow-origin", origin);
      c.res.headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    }
  });
}
