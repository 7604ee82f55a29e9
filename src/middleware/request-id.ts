import { createMiddleware } from "hono/factory";
import { openDb } from "../db/client";
import { config } from "../env";
import { newId } from "../lib/ids";
import { log } from "../lib/log";
import { traceIdFrom } from "../lib/trace";
import { recordRequest } from "../services/metrics";
import type { AppEnv } from "./context";

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when well-formed), a per-request counted D1 handle,
 * and one JSON log line; the response carries X-Request-Id, X-D1-Queries (statements this request ran) and
 * X-D1-Round-Trips (how many times it waited on D1: a batch is one).
 */
export function requestContext() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = Date.now();
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && VALID.test(incoming) ? incoming : newId("req");
    c.set("requestId", requestId);
    c.set("traceId", traceIdFrom(c.req.header("traceparent")));
    const db = openDb(c.env.DB);
    c.set("db", db);
    await next();
    c.res.headers.set("x-request-id", requestId);
    // Metrics are recorded after the response, by route pattern (not raw path, which would explode label sets).
    const route = c.req.routePath || "unmatched";
    if (route !== "/metrics" && c.env.METRICS) {
      c.executionCtx.waitUntil(
        recordRequest(c.env, { route, method: c.req.method, status: c.res.status, ms: Date.now() - started }).catch(
          (err: unknown) =>
            console.error(
              JSON.stringify({ level: "warn", msg: "metrics not recorded", request_id: requestId, error: String(err) }),
            ),
        ),
      );
    }
    const history = c.get("history");
    const other = history && history !== db ? history : null;
    const queries = db.queries() + (other?.queries() ?? 0);
    c.res.headers.set("x-d1-queries", String(queries));
    c.res.headers.set("x-d1-round-trips", String(db.roundTrips() + (other?.roundTrips() ?? 0)));
    log(config(c.env).LOG_LEVEL, "info", "request", {
      request_id: requestId,
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      ms: Date.now() - started,
      tenant_id: c.get("tenantId") ?? null,
      trace_id: c.get("traceId"),
      d1_queries: queries,
    });
  });
}
