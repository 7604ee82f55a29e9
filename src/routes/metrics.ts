import { Hono } from "hono";
import { openDb } from "../db/client";
import { historyCounts } from "../db/history-repo";
import * as repo from "../db/repo";
import { historyDatabases, MAIN_SHARD } from "../db/shards";
import { tenantStub } from "../durable/client";
import { LATENCY_BUCKETS, METRIC_SHARDS } from "../durable/metrics";
import { metricsShard } from "../services/metrics";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labels = (l: Record<string, string | number>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(String(v))}"`)
    .join(",")}}`;

/** GET /metrics (Prometheus text format 0.0.4), for a scraper holding METRICS_TOKEN. */
export const metrics = new Hono<AppEnv>().get("/", async (c) => {
  const token = (c.env as unknown as { METRICS_TOKEN?: string }).METRICS_TOKEN;
  if (!token)
    throw new AppError(503, "metrics_unconfigured", "Set the Worker secret METRICS_TOKEN to enable /metrics.");
  const given = new TextEncoder().encode(c.req.header("authorization") ?? "");
  const wanted = new TextEncoder().encode(`Bearer ${token}`);
  if (given.byteLength !== wanted.byteLength || !crypto.subtle.timingSafeEqual(given, wanted))
    throw new AppError(401, "invalid_credentials", "Send Authorization: Bearer <METRICS_TOKEN>.");

  const main = c.get("db").db;
  const [shards, counts, history] = await Promise.all([
    Promise.all(Array.from({ length: METRIC_SHARDS }, (_, i) => metricsShard(c.env, i).snapshot())),
    repo.metricCounts(main),
    // Executions and node runs live in every history database; the gauges are their sums.
    Promise.all(historyDatabases(c.env).map((h) => historyCounts(h.shard === MAIN_SHARD ? main : openDb(h.d1).db))),
  ]);
  const byStatus = new Map<string, number>();
  const byKind = new Map<string, { attempts: number; retries: number }>();
  for (const h of history) {
    for (const r of h.executions) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + r.n);
    for (const r of h.nodes) {
      const k = byKind.get(r.kind) ?? { attempts: 0, retries: 0 };
      byKind.set(r.kind, { attempts: k.attempts + r.attempts, retries: k.retries + r.retries });
    }
  }
  const out: string[] = [];
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  const merged = new Map<string, { count: number; sum_ms: number; buckets: number[] }>();
  for (const shard of shards) {
    for (const [key, s] of Object.entries(shard)) {
      const m = merged.get(key) ?? { count: 0, sum_ms: 0, buckets: LATENCY_BUCKETS.map(() => 0) };
      m.count += s.count;
      m.sum_ms += s.sum_ms;
      s.buckets.forEach((b, i) => (m.buckets[i] = (m.buckets[i] ?? 0) + b));
      merged.set(key, m);
    }
  }
  family("edgeflow_http_requests_total", "counter", "HTTP requests by route, method and status.");
  for (const [key, m] of merged) {
    const [method, route, status] = JSON.parse(key) as [string, string, number];
    out.push(`edgeflow_http_requests_total${labels({ method, route, status })} ${m.count}`);
  }
  family("edgeflow_http_request_duration_ms", "histogram", "HTTP request latency in milliseconds.");
  for (const [key, m] of merged) {
    const [method, route, status] = JSON.parse(key) as [string, string, number];
    LATENCY_BUCKETS.forEach((b, i) =>
      out.push(`edgeflow_http_request_duration_ms_bucket${labels({ method, route, status, le: b })} ${m.buckets[i]}`),
    );
    out.push(`edgeflow_http_request_duration_ms_bucket${labels({ method, route, status, le: "+Inf" })} ${m.count}`);
    out.push(
      `edgeflow_http_request_duration_ms_sum${labels({ method, route, status })} ${m.sum_ms}`,
      `edgeflow_http_request_duration_ms_count${labels({ method, route, status })} ${m.count}`,
    );
  }
  family("edgeflow_executions", "gauge", "Executions by status, as D1 has them.");
  for (const [status, n] of byStatus) out.push(`edgeflow_executions${labels({ status })} ${n}`);
  family("edgeflow_node_attempts_total", "counter", "Node attempts by kind.");
  for (const [kind, r] of byKind) out.push(`edgeflow_node_attempts_total${labels({ kind })} ${r.attempts}`);
  family("edgeflow_node_retries_total", "counter", "Node attempts beyond the first, by kind.");
  for (const [kind, r] of byKind) out.push(`edgeflow_node_retries_total${labels({ kind })} ${r.retries}`);
  family("edgeflow_alerts_sent_total", "counter", "Monitor alerts delivered.");
  out.push(`edgeflow_alerts_sent_total ${counts.alerts_sent}`);
  // Subscriber slots are leased per tenant in TenantObjects; their live leases are the active subscribers.
  const active = await Promise.all(counts.tenants.map((t) => tenantStub(c.env, t).active("subscriber")));
  family("edgeflow_active_subscribers", "gauge", "WebSocket and SSE subscribers holding a slot, over all tenants.");
  out.push(`edgeflow_active_subscribers ${active.reduce((a, b) => a + b, 0)}`);
  return c.body(`${out.join("\n")}\n`, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
});
