import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format: HELP/TYPE before each family, name{labels} value lines. */
function parseExposition(text: string): { types: Record<string, string>; samples: Sample[] } {
  const types: Record<string, string> = {};
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") types[meta[2] as string] = meta[3] as string;
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(
        line,
      );
    if (!m) throw new Error(`not exposition format: ${line}`);
    const name = m[1] as string;
    const family = name.replace(/_(bucket|sum|count)$/, "");
    if (!types[name] && !types[family]) throw new Error(`sample before its TYPE: ${line}`);
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    samples.push({ name, labels: labels as Record<string, string>, value: Number(m[3]) });
  }
  return { types, samples };
}

/** The samples of `name` for GET `route` answered 200. */
const okGets = (samples: Sample[], name: string, route: string) =>
  samples.filter(
    (s) => s.name === name && s.labels.route === route && s.labels.method === "GET" && s.labels.status === "200",
  );

const scrape = async (token?: string) =>
  exports.default.fetch("http://edgeflow.test/metrics", { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("/metrics", () => {
  it("needs the metrics token", async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape("wrong")).status).toBe(401);
  });

  it("exposes request, execution, node and alert metrics in Prometheus text format", async () => {
    const api = client((await createTenant()).token);
    for (let i = 0; i < 3; i++) await api.get("/v1/workflows");
    const { executionId } = await run(api, {
      name: "m",
      nodes: [
        {
          id: "h",
          kind: "http",
          retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
          config: { url: target(`/flaky/metrics-${Date.now()}?fail=1`) },
        },
      ],
    });
    await waitFor(api, executionId);

    let parsed: ReturnType<typeof parseExposition> | null = null;
    for (let i = 0; i < 100; i++) {
      const res = await scrape("metrics-test-token");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      parsed = parseExposition(await res.text());
      const [listed] = okGets(parsed.samples, "edgeflow_http_requests_total", "/v1/workflows");
      if ((listed?.value ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const { types, samples } = parsed!;
    expect(types).toMatchObject({
      edgeflow_http_requests_total: "counter",
      edgeflow_http_request_duration_ms: "histogram",
      edgeflow_executions: "gauge",
    });
    const get = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(
      get("edgeflow_http_requests_total", { route: "/v1/workflows", method: "GET", status: "200" }),
    ).toBeGreaterThanOrEqual(3);
    expect(get("edgeflow_executions", { status: "succeeded" })).toBeGreaterThanOrEqual(1);
    expect(get("edgeflow_node_retries_total", { kind: "http" })).toBeGreaterThanOrEqual(1);
    expect(get("edgeflow_node_attempts_total", { kind: "http" })).toBeGreaterThanOrEqual(2);
    // Histogram buckets are cumulative and end at the count.
    const buckets = okGets(samples, "edgeflow_http_request_duration_ms_bucket", "/v1/workflows");
    // No two samples share a name and label set.
    const ids = samples.map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
    expect(buckets.at(-1)?.labels.le).toBe("+Inf");
    expect(types.edgeflow_active_subscribers).toBe("gauge");
    expect(get("edgeflow_active_subscribers", {})).toBe(0);
  });
});

describe("request samples", () => {
  it("counts every request of a burst, though an isolate sends them in batches", async () => {
    const api = client((await createTenant()).token);
    const count = async () => {
      const { samples } = parseExposition(await (await scrape("metrics-test-token")).text());
      return okGets(samples, "edgeflow_http_requests_total", "/v1/models")[0]?.value ?? 0;
    };
    const before = await count();
    const answers = await Promise.all(Array.from({ length: 40 }, () => api.get("/v1/models")));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    let now = await count();
    for (let i = 0; i < 100 && now < before + 40; i++) {
      await scheduler.wait(20);
      now = await count();
    }
    // Settled: nothing more arrives, and nothing was lost.
    await scheduler.wait(200);
    expect((await count()) - before).toBe(40);
  });
});
